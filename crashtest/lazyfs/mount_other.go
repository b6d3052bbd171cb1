//go:build !linux

package lazyfs

import (
	"fmt"
	"runtime"
)

// Available reports whether Mount can work here: it needs Linux and FUSE.
func Available() error {
	return fmt.Errorf("%w: it needs Linux (this is %s)", ErrUnavailable, runtime.GOOS)
}

// Mount needs Linux and FUSE: here it returns an error that says so.
func Mount(backing, mountpoint string, opts *Options) (*FS, error) { return nil, Available() }
