// Command goleveldb-fixed is a target executable (the target protocol, see
// docs/target-protocol.md) serving goleveldb at v1.0.1-0.20210305035536-64b5b1c73954:
// goleveldb with PR #351 (64b5b1c73954: the new MANIFEST is synced before CURRENT names it).
// Its configurations are goleveldb-fixed (every write synced) and
// goleveldb-fixed-nosync.
//
//	go -C crashtargets/goleveldb-fixed build -o /tmp/goleveldb-fixed .
//	go run ./cmd/inmem crash barriers --target goleveldb-fixed --target-binary /tmp/goleveldb-fixed
package main

import (
	"os"

	"github.com/in-mem/inmem/crashtargets/leveldbtarget"
	"github.com/in-mem/inmem/crashtest/proc"
)

func main() {
	os.Exit(proc.TargetMain(os.Args[1:], leveldbtarget.Targets("goleveldb-fixed", " v1.0.1-0.20210305035536-64b5b1c73954")))
}
