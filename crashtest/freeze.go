package crashtest

import (
	"errors"
	"io"
	"io/fs"
	"sync"

	"github.com/in-mem/inmem/vfs"
)

// ErrCrashed is returned by every filesystem operation after an injected
// crash, and by scenario operations the crash interrupted.
var ErrCrashed = errors.New("crashtest: crashed")

// freezeFS wraps the filesystem a database under test runs on. Crash
// stops the world atomically: operations already in progress finish, the
// snapshot function captures the disk as the crash leaves it, and every later
// operation fails with ErrCrashed. Like a dying process, the crash also
// closes every open file and releases every lock.
type freezeFS struct {
	inner vfs.FS

	mu     sync.RWMutex
	frozen bool
	open   map[handle]bool
}

// handle is an open file or lock; closeInner releases it without taking
// the filesystem's lock.
type handle interface{ closeInner() error }

var _ vfs.FS = (*freezeFS)(nil)

func newFreezeFS(inner vfs.FS) *freezeFS {
	return &freezeFS{inner: inner, open: map[handle]bool{}}
}

// Unwrap returns the wrapped filesystem.
func (f *freezeFS) Unwrap() vfs.FS { return f.inner }

// Crash runs snapshot (if not nil) while no operation is in progress, then
// freezes the filesystem and closes every handle. It reports false if the
// filesystem was already frozen.
func (f *freezeFS) Crash(snapshot func()) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		return false
	}
	if snapshot != nil {
		snapshot()
	}
	f.frozen = true
	for h := range f.open {
		h.closeInner()
	}
	f.open = nil
	return true
}

// Frozen reports whether Crash ran.
func (f *freezeFS) Frozen() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.frozen
}

// do runs op unless the filesystem is frozen.
func (f *freezeFS) do(op func() error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.frozen {
		return ErrCrashed
	}
	return op()
}

func (f *freezeFS) track(h handle) {
	f.open[h] = true
}

func (f *freezeFS) untrack(h handle) {
	f.mu.Lock()
	delete(f.open, h)
	f.mu.Unlock()
}

func (f *freezeFS) wrapOpen(open func(string) (vfs.File, error), name string) (vfs.File, error) {
	var file vfs.File
	err := f.do(func() (err error) {
		file, err = open(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	ff := &freezeFile{fs: f, f: file}
	f.mu.Lock()
	if f.frozen {
		f.mu.Unlock()
		file.Close()
		return nil, ErrCrashed
	}
	f.track(ff)
	f.mu.Unlock()
	return ff, nil
}

func (f *freezeFS) Create(name string) (vfs.File, error) { return f.wrapOpen(f.inner.Create, name) }
func (f *freezeFS) OpenAppend(name string) (vfs.File, error) {
	return f.wrapOpen(f.inner.OpenAppend, name)
}
func (f *freezeFS) Open(name string) (vfs.File, error)    { return f.wrapOpen(f.inner.Open, name) }
func (f *freezeFS) OpenDir(name string) (vfs.File, error) { return f.wrapOpen(f.inner.OpenDir, name) }

func (f *freezeFS) Rename(oldname, newname string) error {
	return f.do(func() error { return f.inner.Rename(oldname, newname) })
}
func (f *freezeFS) Remove(name string) error {
	return f.do(func() error { return f.inner.Remove(name) })
}
func (f *freezeFS) MkdirAll(dir string) error {
	return f.do(func() error { return f.inner.MkdirAll(dir) })
}
func (f *freezeFS) Truncate(name string, size int64) error {
	return f.do(func() error { return f.inner.Truncate(name, size) })
}

func (f *freezeFS) List(dir string) (names []string, err error) {
	err = f.do(func() error {
		names, err = f.inner.List(dir)
		return err
	})
	return names, err
}

func (f *freezeFS) Stat(name string) (info fs.FileInfo, err error) {
	err = f.do(func() error {
		info, err = f.inner.Stat(name)
		return err
	})
	return info, err
}

func (f *freezeFS) Lock(name string) (io.Closer, error) {
	var l io.Closer
	err := f.do(func() (err error) {
		l, err = f.inner.Lock(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	fl := &freezeLock{fs: f, l: l}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		l.Close()
		return nil, ErrCrashed
	}
	f.track(fl)
	return fl, nil
}

type freezeLock struct {
	fs   *freezeFS
	l    io.Closer
	once sync.Once
}

func (l *freezeLock) closeInner() error {
	err := ErrCrashed
	l.once.Do(func() { err = l.l.Close() })
	return err
}

func (l *freezeLock) Close() error {
	err := l.closeInner()
	l.fs.untrack(l)
	return err
}

type freezeFile struct {
	fs   *freezeFS
	f    vfs.File
	once sync.Once
}

func (ff *freezeFile) closeInner() error {
	err := ErrCrashed
	ff.once.Do(func() { err = ff.f.Close() })
	return err
}

// Close releases the file, once: after a crash the crash already did.
func (ff *freezeFile) Close() error {
	err := ff.closeInner()
	ff.fs.untrack(ff)
	return err
}

func (ff *freezeFile) Write(p []byte) (n int, err error) {
	err = ff.fs.do(func() error {
		n, err = ff.f.Write(p)
		return err
	})
	return n, err
}

// WriteAt implements vfs.WriterAt for a wrapped file that has it.
func (ff *freezeFile) WriteAt(p []byte, off int64) (n int, err error) {
	err = ff.fs.do(func() error {
		n, err = vfs.WriteAt(ff.f, p, off)
		return err
	})
	return n, err
}

func (ff *freezeFile) ReadAt(p []byte, off int64) (n int, err error) {
	err = ff.fs.do(func() error {
		n, err = ff.f.ReadAt(p, off)
		return err
	})
	return n, err
}

func (ff *freezeFile) Sync() error { return ff.fs.do(ff.f.Sync) }
