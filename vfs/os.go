package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// OS is the real filesystem. Sync is fdatasync on Linux (the file's data and
// the metadata needed to read it back, such as its size) and fsync elsewhere;
// Lock is flock(2).
var OS FS = osFS{}

type osFS struct{}

var (
	_ FS           = osFS{}
	_ SharedLocker = osFS{}
	_ WriterAt     = osFile{}
)

type osFile struct {
	*os.File
}

func (f osFile) Sync() error { return datasync(f.File) }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenAppend opens name for writing at its end. NB: not with O_APPEND, under
// which pwrite(2) ignores its offset on Linux and Go refuses WriteAt: the
// handle is positioned at the end instead, so Write appends as long as it is
// the file's only writer, and WriteAt writes where it is told.
func (osFS) OpenAppend(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0) // NB: read too, for Map
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenDir(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	// A directory is synced with fsync: fdatasync may skip the entries.
	return dirFile{f}, nil
}

// dirFile syncs with fsync, which is what makes directory entries durable.
type dirFile struct {
	*os.File
}

func (d dirFile) Sync() error { return d.File.Sync() }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }
func (osFS) Stat(name string) (fs.FileInfo, error) {
	return os.Stat(name)
}
func (osFS) Truncate(name string, size int64) error { return os.Truncate(name, size) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) Lock(name string) (io.Closer, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, err
	}
	return lockFile(name)
}

// LockShared implements SharedLocker with a shared flock(2).
func (osFS) LockShared(name string) (io.Closer, error) { return lockFileShared(name) }
