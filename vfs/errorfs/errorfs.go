// Package errorfs wraps a vfs.FS so that chosen operations fail, the way a
// disk or kernel fails: EIO, ENOSPC, a short write, a failed fsync. An
// Injector decides, for every operation, whether it fails; injectors compose
// (Any, OnIndex, ByKind, ByPath, Toggle).
package errorfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/in-mem/inmem/vfs"
)

// OpKind names a filesystem operation.
type OpKind uint8

// The operations an Injector sees. Keep numOpKinds last.
const (
	OpCreate OpKind = iota
	OpOpenAppend
	OpOpen
	OpOpenDir
	OpRename
	OpRemove
	OpMkdirAll
	OpList
	OpStat
	OpTruncate
	OpLock
	OpWrite
	OpRead
	OpSync
	OpClose
	OpLockShared
	numOpKinds
)

var opNames = [numOpKinds]string{
	"create", "open-append", "open", "open-dir", "rename", "remove", "mkdir",
	"list", "stat", "truncate", "lock", "write", "read", "sync", "close",
	"lock-shared",
}

func (k OpKind) String() string {
	if k < numOpKinds {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// ParseOpKind parses the names String returns.
func ParseOpKind(s string) (OpKind, error) {
	for k := OpKind(0); k < numOpKinds; k++ {
		if opNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("inmem/errorfs: unknown operation %q", s)
}

// IsMutation reports whether the operation can change what is on disk.
func (k OpKind) IsMutation() bool {
	switch k {
	case OpCreate, OpRename, OpRemove, OpMkdirAll, OpTruncate, OpWrite, OpSync:
		return true
	}
	return false
}

// Op is one operation as an Injector sees it.
type Op struct {
	Kind OpKind
	Path string
	// Offset is the file offset of a read; for a write, the number of bytes
	// written through this handle before it.
	Offset int64
	// Len is the number of bytes of a read or write.
	Len int
}

func (o Op) String() string { return fmt.Sprintf("%s %s", o.Kind, o.Path) }

// Injector decides whether an operation fails. MaybeError returns nil to let
// it proceed. It is called concurrently.
type Injector interface {
	MaybeError(Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(Op) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// Injected errors. ErrShortWrite makes a write store half of its bytes
// before failing.
var (
	ErrIO         = fmt.Errorf("inmem/errorfs: injected: %w", syscall.EIO)
	ErrNoSpace    = fmt.Errorf("inmem/errorfs: injected: %w", syscall.ENOSPC)
	ErrShortWrite = fmt.Errorf("inmem/errorfs: injected short write: %w", io.ErrShortWrite)
	ErrSyncFailed = fmt.Errorf("inmem/errorfs: injected fsync failure: %w", syscall.EIO)
	ErrReadOnly   = fmt.Errorf("inmem/errorfs: injected: %w", syscall.EROFS)
)

// ReadOnly fails, with ErrReadOnly, every operation a read-only mount
// refuses: those that create, change or remove files or directories, open a
// file for writing, sync, or take an exclusive lock (which may create the
// lock file). Reads, listings and shared locks proceed.
var ReadOnly Injector = InjectorFunc(func(op Op) error {
	switch op.Kind {
	case OpCreate, OpOpenAppend, OpRename, OpRemove, OpMkdirAll, OpTruncate, OpLock, OpWrite, OpSync:
		return ErrReadOnly
	}
	return nil
})

// ErrorNamed returns the injected error with a short name: eio, enospc, short,
// fsync.
func ErrorNamed(name string) (error, bool) {
	switch name {
	case "eio":
		return ErrIO, true
	case "enospc":
		return ErrNoSpace, true
	case "short":
		return ErrShortWrite, true
	case "fsync":
		return ErrSyncFailed, true
	}
	return nil, false
}

// Any fails an operation with the first error any of its injectors returns.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(op Op) error {
		for _, i := range injs {
			if err := i.MaybeError(op); err != nil {
				return err
			}
		}
		return nil
	})
}

// Counter counts the operations it sees that match filter (all if nil).
type Counter struct {
	Filter func(Op) bool
	n      atomic.Int64
}

// MaybeError implements Injector; it never fails anything.
func (c *Counter) MaybeError(op Op) error {
	if c.Filter == nil || c.Filter(op) {
		c.n.Add(1)
	}
	return nil
}

// Count returns the number of matching operations seen.
func (c *Counter) Count() int64 { return c.n.Load() }

// OnIndex fails the index-th (0-based) operation that matches filter (all
// if nil) with err, and only that one.
func OnIndex(index int64, filter func(Op) bool, err error) Injector {
	var seen atomic.Int64
	return InjectorFunc(func(op Op) error {
		if filter != nil && !filter(op) {
			return nil
		}
		if seen.Add(1)-1 == index {
			return err
		}
		return nil
	})
}

// FromIndex fails every matching operation from the index-th on: a disk
// that stays broken.
func FromIndex(index int64, filter func(Op) bool, err error) Injector {
	var seen atomic.Int64
	return InjectorFunc(func(op Op) error {
		if filter != nil && !filter(op) {
			return nil
		}
		if seen.Add(1)-1 >= index {
			return err
		}
		return nil
	})
}

// ByKind is a filter matching the given operation kinds.
func ByKind(kinds ...OpKind) func(Op) bool {
	return func(op Op) bool {
		for _, k := range kinds {
			if op.Kind == k {
				return true
			}
		}
		return false
	}
}

// ByPath is a filter matching operations whose path contains substr.
func ByPath(substr string) func(Op) bool {
	return func(op Op) bool { return strings.Contains(op.Path, substr) }
}

// Mutations is a filter matching operations that can change the disk.
func Mutations(op Op) bool { return op.Kind.IsMutation() }

// Toggle fails every operation with Err while it is on.
type Toggle struct {
	Err error
	on  atomic.Bool
}

// On makes every later operation fail.
func (t *Toggle) On() { t.on.Store(true) }

// Off lets operations through again.
func (t *Toggle) Off() { t.on.Store(false) }

// MaybeError implements Injector.
func (t *Toggle) MaybeError(Op) error {
	if t.on.Load() {
		return t.Err
	}
	return nil
}

// Wrap returns fsys with inj consulted before every operation.
func Wrap(fsys vfs.FS, inj Injector) vfs.FS {
	return &errFS{fs: fsys, inj: inj}
}

type errFS struct {
	fs  vfs.FS
	inj Injector
}

// Unwrap returns the wrapped filesystem.
func (e *errFS) Unwrap() vfs.FS { return e.fs }

func (e *errFS) check(kind OpKind, path string) error {
	if err := e.inj.MaybeError(Op{Kind: kind, Path: path}); err != nil {
		return &fs.PathError{Op: kind.String(), Path: path, Err: err}
	}
	return nil
}

func (e *errFS) open(kind OpKind, name string, open func(string) (vfs.File, error)) (vfs.File, error) {
	if err := e.check(kind, name); err != nil {
		return nil, err
	}
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	return &errFile{f: f, name: name, inj: e.inj}, nil
}

func (e *errFS) Create(name string) (vfs.File, error) { return e.open(OpCreate, name, e.fs.Create) }
func (e *errFS) OpenAppend(name string) (vfs.File, error) {
	return e.open(OpOpenAppend, name, e.fs.OpenAppend)
}
func (e *errFS) Open(name string) (vfs.File, error)    { return e.open(OpOpen, name, e.fs.Open) }
func (e *errFS) OpenDir(name string) (vfs.File, error) { return e.open(OpOpenDir, name, e.fs.OpenDir) }

func (e *errFS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, oldname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

func (e *errFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

func (e *errFS) MkdirAll(dir string) error {
	if err := e.check(OpMkdirAll, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir)
}

func (e *errFS) List(dir string) ([]string, error) {
	if err := e.check(OpList, dir); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

func (e *errFS) Stat(name string) (fs.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

func (e *errFS) Truncate(name string, size int64) error {
	if err := e.check(OpTruncate, name); err != nil {
		return err
	}
	return e.fs.Truncate(name, size)
}

func (e *errFS) Lock(name string) (io.Closer, error) {
	if err := e.check(OpLock, name); err != nil {
		return nil, err
	}
	return e.fs.Lock(name)
}

// LockShared implements vfs.SharedLocker for any wrapped FS (see
// vfs.LockShared).
func (e *errFS) LockShared(name string) (io.Closer, error) {
	if err := e.check(OpLockShared, name); err != nil {
		return nil, err
	}
	return vfs.LockShared(e.fs, name)
}

type errFile struct {
	f       vfs.File
	name    string
	inj     Injector
	written int64
}

func (f *errFile) Write(p []byte) (int, error) {
	err := f.inj.MaybeError(Op{Kind: OpWrite, Path: f.name, Offset: f.written, Len: len(p)})
	if err == nil {
		n, werr := f.f.Write(p)
		f.written += int64(n)
		return n, werr
	}
	if errors.Is(err, io.ErrShortWrite) {
		n, _ := f.f.Write(p[:len(p)/2])
		f.written += int64(n)
		return n, &fs.PathError{Op: "write", Path: f.name, Err: err}
	}
	return 0, &fs.PathError{Op: "write", Path: f.name, Err: err}
}

// WriteAt implements vfs.WriterAt for a wrapped file that has it: an
// OpWrite at the offset written.
func (f *errFile) WriteAt(p []byte, off int64) (int, error) {
	err := f.inj.MaybeError(Op{Kind: OpWrite, Path: f.name, Offset: off, Len: len(p)})
	if err == nil {
		return vfs.WriteAt(f.f, p, off)
	}
	if errors.Is(err, io.ErrShortWrite) {
		n, _ := vfs.WriteAt(f.f, p[:len(p)/2], off)
		return n, &fs.PathError{Op: "write", Path: f.name, Err: err}
	}
	return 0, &fs.PathError{Op: "write", Path: f.name, Err: err}
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inj.MaybeError(Op{Kind: OpRead, Path: f.name, Offset: off, Len: len(p)}); err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	return f.f.ReadAt(p, off)
}

func (f *errFile) Sync() error {
	if err := f.inj.MaybeError(Op{Kind: OpSync, Path: f.name}); err != nil {
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	return f.f.Sync()
}

func (f *errFile) Close() error {
	if err := f.inj.MaybeError(Op{Kind: OpClose, Path: f.name}); err != nil {
		f.f.Close()
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return f.f.Close()
}
