// Package vfs is the filesystem seam of in-mem: every byte the engine reads or
// writes goes through an FS, so tests can run the engine on a filesystem that
// loses unsynced data (MemFS.Crash) or fails chosen operations (package
// errorfs) without any change to the engine.
//
// # Durability contract
//
// An implementation must behave like a POSIX filesystem on a disk with a
// volatile write cache:
//
//   - File.Write puts bytes in the file; they are visible to readers at once
//     but durable only after File.Sync returns nil.
//   - Create, Rename, Remove and MkdirAll change a directory; the change is
//     visible at once but durable only after that directory, opened with
//     OpenDir, is synced. A file that was created and synced, in a directory
//     that was not, may be missing after a power loss.
//   - A failed Sync leaves the file's durable content unknown: the caller must
//     not retry it as if nothing happened.
//
// OS is the real filesystem (fdatasync, flock). MemFS keeps everything in
// memory and remembers what was synced, so that Crash can build the state a
// machine would find after losing power.
package vfs

import (
	"errors"
	"io"
	"io/fs"
)

// File is an open file. Files opened by Open are read-only; files opened by
// Create or OpenAppend are for writing, and every Write appends at the end
// (OpenAppend positions a new handle at the end; a file has one writer).
// Files opened for writing may also implement WriterAt, to overwrite bytes
// in place. Directories opened with OpenDir support only Sync and Close.
type File interface {
	io.Writer
	io.ReaderAt
	// Sync makes the file's content durable (fdatasync on Linux). For a
	// directory it makes the directory's entries durable.
	Sync() error
	io.Closer
}

// WriterAt is implemented by files opened for writing (by Create or
// OpenAppend) that can write at an offset: bytes in place are overwritten,
// a write past the end extends the file (with zeros in any gap). Such a
// write is durable, like any other, once Sync returns. It is optional; use
// the WriteAt helper. The log overwrites the blocks of a segment it wrote
// ahead of time with zeros: on a real disk an fdatasync of overwritten
// blocks commits no metadata.
type WriterAt interface {
	WriteAt(p []byte, off int64) (int, error)
}

// ErrUnsupported is returned by WriteAt for a file without WriterAt.
var ErrUnsupported = errors.New("inmem/vfs: the file cannot be written at an offset")

// ErrNotMappable is returned by Map and MapRead for a file on a filesystem
// not known to be local to the kernel (FUSE, network filesystems): see
// Mapper.
var ErrNotMappable = errors.New("inmem/vfs: the file cannot be mapped")

// WriteAt writes p at off through f's WriterAt, or fails with
// ErrUnsupported. Wrappers forward their WriteAt through it.
func WriteAt(f File, p []byte, off int64) (int, error) {
	w, ok := f.(WriterAt)
	if !ok {
		return 0, ErrUnsupported
	}
	return w.WriteAt(p, off)
}

// Mapper is implemented by files opened for writing whose bytes can be
// written through shared memory (mmap MAP_SHARED on Linux): a store into
// the mapping is in the kernel's page cache at once, as a write(2) is, so it
// survives the process, and File.Sync makes it durable like any write. Map
// maps size bytes from off, which must be a multiple of the OS page size,
// and the file must extend over them: a store past the file's end, or into
// a part of it another handle cut off, faults. It is optional and only the
// real filesystem (OS, on Linux) has it; the engine falls back to WriterAt.
// OS maps only files on filesystems known to be local (ext4, XFS, Btrfs,
// tmpfs, F2FS, ZFS, overlayfs) and refuses others with ErrNotMappable: a
// fault on a FUSE file waits for the FUSE server with the process's memory
// map locked, which deadlocks when the server is the same process.
type Mapper interface {
	Map(off, size int64) (Mapping, error)
}

// ReadMapper is implemented by files opened for reading whose bytes can be
// read through memory (a read-only mmap(2) on Linux): the page cache's own
// pages, with no copy and no buffer to allocate. MapRead maps the file's
// first size bytes; the file must extend over them. A read error of the
// device shows as a memory fault, not as an error: read such a mapping
// with runtime/debug.SetPanicOnFault on and recover the fault (see
// the wal package's scan). Only the real filesystem (OS, on Linux) has it,
// for the same filesystems as Mapper.
type ReadMapper interface {
	MapRead(size int64) (Mapping, error)
}

// Mapping is a range of a file mapped by Mapper or ReadMapper.
type Mapping interface {
	// Bytes is the mapped range: changing it changes the file.
	Bytes() []byte
	// Close unmaps it; Bytes must not be used after.
	Close() error
}

// FS is the filesystem the engine runs on. Names are slash or OS separated
// paths; implementations clean them.
type FS interface {
	// Create creates the named file, or truncates it if it exists, and opens
	// it for writing.
	Create(name string) (File, error)
	// OpenAppend opens an existing file for writing at its end.
	OpenAppend(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenDir opens a directory so that it can be synced.
	OpenDir(name string) (File, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string) error
	// List returns the names of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file.
	Stat(name string) (fs.FileInfo, error)
	// Truncate changes the size of the named file.
	Truncate(name string, size int64) error
	// Lock takes an exclusive lock on the named file, creating it if needed.
	// It fails with ErrLocked if the lock is held, by this or another
	// process. Closing the returned Closer releases the lock.
	Lock(name string) (io.Closer, error)
}

// ErrLocked is returned by FS.Lock and LockShared when the lock is already
// held in a conflicting mode, by another process or by another open handle
// of this one.
var ErrLocked = errors.New("inmem/vfs: file is locked by another process or handle")

// SharedLocker is implemented by an FS that can take shared locks: any
// number of shared holders, or one exclusive holder (FS.Lock), never both.
// It is optional; use the LockShared helper.
type SharedLocker interface {
	// LockShared takes a shared lock on the named file, which it opens for
	// reading only and never creates: a missing file fails with an error
	// matching fs.ErrNotExist. It fails with ErrLocked while an exclusive
	// lock is held. Closing the returned Closer releases the lock.
	LockShared(name string) (io.Closer, error)
}

// LockShared takes a shared lock on name through fsys (see SharedLocker),
// looking through wrappers that have an Unwrap() FS method. An FS that
// cannot take shared locks gets none: the returned Closer does nothing, and
// nothing keeps a writer out while the reader reads.
func LockShared(fsys FS, name string) (io.Closer, error) {
	for {
		if sl, ok := fsys.(SharedLocker); ok {
			return sl.LockShared(name)
		}
		u, ok := fsys.(interface{ Unwrap() FS })
		if !ok {
			return nopCloser{}, nil
		}
		fsys = u.Unwrap()
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// ReadFile reads a whole file through fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	info, err := fsys.Stat(name)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, info.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(buf)) {
		return nil, err
	}
	return buf[:n], nil
}

// SyncDir opens dir and syncs it, making its entries durable.
func SyncDir(fsys FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// Exists reports whether name exists. Errors other than "does not exist"
// are returned.
func Exists(fsys FS, name string) (bool, error) {
	_, err := fsys.Stat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// WriteFile creates (or truncates) name, writes data and syncs it. The file
// is durable once its directory is synced too.
func WriteFile(fsys FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
