package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync(2): enough for appended data because it also flushes
// the size, and cheaper than fsync because it skips timestamps.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
