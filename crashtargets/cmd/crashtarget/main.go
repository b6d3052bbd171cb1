// Command crashtarget is the target child of in-mem's crash testers for
// bbolt, SQLite and in-mem's own configurations (proc.TargetMain):
//
//	crashtarget list
//	crashtarget child --target bbolt --dir DIR --seed N ...   (acknowledges on fd 3)
//	crashtarget check --target bbolt --dir DIR < keys
//
// Build it and hand it to the inmem CLI:
//
//	go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget
//	inmem crash kernel --target bbolt --target-binary /tmp/crashtarget
package main

import (
	"os"

	"github.com/in-mem/inmem/crashtargets"
	"github.com/in-mem/inmem/crashtest/proc"
)

func main() { os.Exit(proc.TargetMain(os.Args[1:], crashtargets.All())) }
