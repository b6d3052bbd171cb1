// Command goleveldb-buggy is a target executable (the target protocol, see
// docs/target-protocol.md) serving goleveldb at v1.0.1-0.20200815110645-5c35d600f0ca:
// goleveldb before PR #351 (5c35d600f0ca: the new MANIFEST is not synced before CURRENT names it).
// Its configurations are goleveldb-buggy (every write synced) and
// goleveldb-buggy-nosync.
//
//	go -C crashtargets/goleveldb-buggy build -o /tmp/goleveldb-buggy .
//	go run ./cmd/inmem crash barriers --target goleveldb-buggy --target-binary /tmp/goleveldb-buggy
package main

import (
	"os"

	"github.com/in-mem/inmem/crashtargets/leveldbtarget"
	"github.com/in-mem/inmem/crashtest/proc"
)

func main() {
	os.Exit(proc.TargetMain(os.Args[1:], leveldbtarget.Targets("goleveldb-buggy", " v1.0.1-0.20200815110645-5c35d600f0ca")))
}
