package lazyfs_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/vfs"
)

// A program saves a file by renaming it into place and never syncs the
// directory: a crash that drops what was not synced loses the save, and
// the report says which change it was.
func ExampleMount() {
	backing, _ := os.MkdirTemp("", "backing-")
	mnt, _ := os.MkdirTemp("", "mnt-")
	fs, err := lazyfs.Mount(backing, mnt, nil)
	if err != nil {
		log.Fatal(err) // lazyfs.Available says what is missing
	}
	defer fs.Unmount()

	tmp, name := filepath.Join(mnt, "config.tmp"), filepath.Join(mnt, "config")
	f, _ := os.Create(tmp)
	f.WriteString("v1")
	f.Sync()
	f.Close()
	os.Rename(tmp, name) // the bug: no fsync of mnt follows

	report, err := fs.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(name)
	fmt.Println(os.IsNotExist(err))
	fmt.Println(report)
}
