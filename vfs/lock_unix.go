//go:build unix

package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes a non-blocking exclusive flock on name. flock locks belong to
// the open file description, so a second Open in the same process conflicts
// just as one from another process does, and the kernel releases the lock
// when the process dies.
func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return flock(f, name, unix.LOCK_EX)
}

// lockFileShared takes a non-blocking shared flock on name, opened for
// reading only, so that it works on read-only media. flock needs no write
// access.
func lockFileShared(name string) (io.Closer, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return flock(f, name, unix.LOCK_SH)
}

func flock(f *os.File, name string, how int) (io.Closer, error) {
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		return nil, &os.PathError{Op: "flock", Path: name, Err: err}
	}
	return f, nil
}
