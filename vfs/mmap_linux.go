package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

var (
	_ Mapper     = osFile{}
	_ ReadMapper = osFile{}
)

// Map implements Mapper with mmap(2), MAP_SHARED: stores go to the page
// cache, as a write(2) does, and fdatasync(2) writes back the pages they
// dirtied.
func (f osFile) Map(off, size int64) (Mapping, error) {
	b, err := unix.Mmap(int(f.Fd()), off, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return &osMapping{b: b}, nil
}

// MapRead implements ReadMapper with mmap(2), PROT_READ and MAP_SHARED.
func (f osFile) MapRead(size int64) (Mapping, error) {
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return &osMapping{b: b}, nil
}

type osMapping struct{ b []byte }

func (m *osMapping) Bytes() []byte { return m.b }

func (m *osMapping) Close() error {
	if m.b == nil {
		return nil
	}
	b := m.b
	m.b = nil
	return unix.Munmap(b)
}
