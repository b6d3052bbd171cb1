package vfs

import (
	"fmt"
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
	if err := mappable(f); err != nil {
		return nil, err
	}
	b, err := unix.Mmap(int(f.Fd()), off, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return &osMapping{b: b}, nil
}

// MapRead implements ReadMapper with mmap(2), PROT_READ and MAP_SHARED.
func (f osFile) MapRead(size int64) (Mapping, error) {
	if err := mappable(f); err != nil {
		return nil, err
	}
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

// mappable reports, as an error, a file on a filesystem not known to be
// local to the kernel. A page fault on a mapping of a FUSE file waits for
// the FUSE server with the process's memory map locked: if the server is
// this process (the crash harness serves its filesystems in process), it
// can never grow its heap to answer, and both wait forever. Network
// filesystems turn faults into network waits and errors into SIGBUS. Such
// files are read and written with system calls instead.
func mappable(f osFile) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstatfs", Path: f.Name(), Err: err}
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC,
		unix.F2FS_SUPER_MAGIC, 0x2FC12FC1 /* ZFS */, unix.OVERLAYFS_SUPER_MAGIC:
		return nil
	}
	return &os.PathError{Op: "mmap", Path: f.Name(), Err: fmt.Errorf("%w: filesystem type %#x is not known to be local", ErrNotMappable, st.Type)}
}
