//go:build !unix

package vfs

import (
	"fmt"
	"io"
	"os"
)

// lockFile falls back to an exclusively created lock file where flock does
// not exist. A crashed process leaves it behind; remove it by hand.
func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name+".held", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		return nil, err
	}
	return heldLock{f}, nil
}

type heldLock struct{ f *os.File }

func (h heldLock) Close() error {
	if h.f == nil {
		return nil
	}
	h.f.Close()
	return os.Remove(h.f.Name())
}

// lockFileShared takes no lock where flock does not exist: the fallback lock
// file is exclusive and would need write access. It only checks that name
// exists.
func lockFileShared(name string) (io.Closer, error) {
	if _, err := os.Stat(name); err != nil {
		return nil, err
	}
	if _, err := os.Stat(name + ".held"); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	return heldLock{}, nil
}
