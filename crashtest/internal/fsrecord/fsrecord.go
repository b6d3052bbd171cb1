// Package fsrecord records the operations that change a vfs.MemFS, so that
// an explorer can rebuild the filesystem as it stood after any of them and
// crash it there. The powerloss explorer and the in-process harness's
// kill-then-power-loss crashes share it (FS records an engine's vfs.FS
// calls); the lazy filesystem logs what its FUSE server does (Log), with
// handles, so that a write through a file renamed or removed since it was
// opened replays onto the same file.
package fsrecord

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/in-mem/inmem/vfs"
)

// Kind is a recorded filesystem operation.
type Kind uint8

const (
	recCreate Kind = iota
	recWrite
	recSync
	recSyncDir
	recRename
	recRemove
	recMkdir
	recTruncate
	recOpen
	recClose
	recLink
	recWriteAt
)

var recNames = [...]string{"create", "write", "sync", "sync-dir", "rename", "remove", "mkdir", "truncate", "open", "close", "link", "write-at"}

func (k Kind) String() string { return recNames[k] }

// Op is one recorded operation that changes what a filesystem holds.
type Op struct {
	kind   Kind
	path   string
	to     string // rename and link target
	data   []byte // write
	size   int64  // truncate; the offset of a write-at or of a write with a handle
	handle uint64 // the open file it goes through (0: by path)
}

func (o Op) String() string {
	switch o.kind {
	case recWrite:
		if o.handle != 0 {
			return fmt.Sprintf("write %d bytes at %d to %s", len(o.data), o.size, o.path)
		}
		return fmt.Sprintf("write %d bytes to %s", len(o.data), o.path)
	case recWriteAt:
		return fmt.Sprintf("write %d bytes at %d to %s", len(o.data), o.size, o.path)
	case recRename:
		return fmt.Sprintf("rename %s to %s", o.path, o.to)
	case recLink:
		return fmt.Sprintf("link %s to %s", o.path, o.to)
	case recTruncate:
		return fmt.Sprintf("truncate %s to %d", o.path, o.size)
	}
	return fmt.Sprintf("%s %s", o.kind, o.path)
}

// Path is the file or directory the operation is on (a rename's source).
func (o Op) Path() string { return o.path }

// Written is how many bytes a write wrote (0 for any other operation).
func (o Op) Written() int { return len(o.data) }

// Offset is where a write at an offset wrote, and -1 for a write that
// appended (or any other operation).
func (o Op) Offset() int64 {
	if o.kind == recWriteAt || o.kind == recWrite && o.handle != 0 {
		return o.size
	}
	return -1
}

// Data is what a write wrote. NB: the log's own copy; do not change it.
func (o Op) Data() []byte { return o.data }

// IsSync reports whether the operation is a sync point.
func (o Op) IsSync() bool { return o.kind == recSync || o.kind == recSyncDir }

// Changes reports whether the operation can change what a crash leaves
// (opening and closing a file cannot).
func (o Op) Changes() bool { return o.kind != recOpen && o.kind != recClose }

// The operations a Log takes. A handle (non-zero) names an open file from
// CreateOp or OpenOp to its CloseOp; path is the file's name when the
// operation was done, for people.

// CreateOp creates (or truncates) path and opens it as handle h.
func CreateOp(path string, h uint64) Op { return Op{kind: recCreate, path: path, handle: h} }

// OpenOp opens the existing file path as handle h.
func OpenOp(path string, h uint64) Op { return Op{kind: recOpen, path: path, handle: h} }

// CloseOp closes handle h.
func CloseOp(path string, h uint64) Op { return Op{kind: recClose, path: path, handle: h} }

// WriteAtOp writes data at off through handle h.
func WriteAtOp(path string, h uint64, off int64, data []byte) Op {
	return Op{kind: recWrite, path: path, handle: h, size: off, data: slices.Clone(data)}
}

// SyncOp makes the content of the file open as h durable.
func SyncOp(path string, h uint64) Op { return Op{kind: recSync, path: path, handle: h} }

// TruncateOp changes the size of path, through handle h if it is not 0.
func TruncateOp(path string, h uint64, size int64) Op {
	return Op{kind: recTruncate, path: path, handle: h, size: size}
}

// SyncDirOp makes the entries of directory path durable.
func SyncDirOp(path string) Op { return Op{kind: recSyncDir, path: path} }

// RenameOp renames from to to.
func RenameOp(from, to string) Op { return Op{kind: recRename, path: from, to: to} }

// LinkOp gives the file from a second name, to.
func LinkOp(from, to string) Op { return Op{kind: recLink, path: from, to: to} }

// RemoveOp removes a file or an empty directory.
func RemoveOp(path string) Op { return Op{kind: recRemove, path: path} }

// MkdirOp makes directory path.
func MkdirOp(path string) Op { return Op{kind: recMkdir, path: path} }

// Log is the log of a layer that performs the operations itself, on a
// MemFS of its own (the lazy filesystem's FUSE server): it adds each one
// as it is done, holding its own lock across both, so that the log's order
// is the order they were done in. Its clock is the number of operations
// logged.
type Log struct {
	mu  sync.Mutex
	ops []Op
	n   atomic.Uint64
}

// Add appends op.
func (l *Log) Add(op Op) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
	l.n.Store(uint64(len(l.ops)))
}

// Clock returns the number of operations logged so far.
func (l *Log) Clock() uint64 { return l.n.Load() }

// Ops returns the operations logged so far.
func (l *Log) Ops() []Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

// FS performs every operation on a MemFS and logs, in order, each one
// that changes it, so the history can be replayed to any point. Its clock is
// the number of operations logged. Writes and syncs through a handle are
// logged by the path the handle was opened with: the engine never renames a
// file it has open, so replaying by path is exact.
type FS struct {
	inner *vfs.MemFS
	start *vfs.MemFS // inner as it was before the first operation

	mu  sync.Mutex
	log []Op
	n   atomic.Uint64
}

var _ vfs.FS = (*FS)(nil)

// New returns a recorder whose operations go to base (a new MemFS if nil).
func New(base *vfs.MemFS) *FS {
	if base == nil {
		base = vfs.NewMemFS()
	}
	return &FS{inner: base, start: base.Kill()}
}

// Replayer returns a replayer of the operations logged so far, from the
// filesystem as the recorder started on it.
func (r *FS) Replayer() *Replayer { return NewReplayer(r.start, r.Log()) }

// Inner returns the filesystem the operations go to.
func (r *FS) Inner() *vfs.MemFS { return r.inner }

// Clock returns the number of operations logged so far.
func (r *FS) Clock() uint64 { return r.n.Load() }

// Log returns the operations logged so far.
func (r *FS) Log() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// do performs fn and, if it succeeded, logs op, atomically with respect to
// other logged operations.
func (r *FS) do(op Op, fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := fn(); err != nil {
		return err
	}
	r.log = append(r.log, op)
	r.n.Store(uint64(len(r.log)))
	return nil
}

func (r *FS) open(name string, kind Kind, open func(string) (vfs.File, error)) (vfs.File, error) {
	var f vfs.File
	err := r.do(Op{kind: kind, path: name}, func() (err error) {
		f, err = open(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &file{fs: r, f: f, path: name}, nil
}

func (r *FS) Create(name string) (vfs.File, error) {
	return r.open(name, recCreate, r.inner.Create)
}

func (r *FS) OpenAppend(name string) (vfs.File, error) {
	f, err := r.inner.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return &file{fs: r, f: f, path: name}, nil
}

func (r *FS) Open(name string) (vfs.File, error) { return r.inner.Open(name) }

func (r *FS) OpenDir(name string) (vfs.File, error) {
	f, err := r.inner.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &file{fs: r, f: f, path: name, dir: true}, nil
}

func (r *FS) Rename(oldname, newname string) error {
	return r.do(Op{kind: recRename, path: oldname, to: newname}, func() error { return r.inner.Rename(oldname, newname) })
}

func (r *FS) Remove(name string) error {
	return r.do(Op{kind: recRemove, path: name}, func() error { return r.inner.Remove(name) })
}

func (r *FS) MkdirAll(dir string) error {
	return r.do(Op{kind: recMkdir, path: dir}, func() error { return r.inner.MkdirAll(dir) })
}

func (r *FS) Truncate(name string, size int64) error {
	return r.do(Op{kind: recTruncate, path: name, size: size}, func() error { return r.inner.Truncate(name, size) })
}

func (r *FS) List(dir string) ([]string, error)     { return r.inner.List(dir) }
func (r *FS) Stat(name string) (fs.FileInfo, error) { return r.inner.Stat(name) }
func (r *FS) Lock(name string) (io.Closer, error)   { return r.inner.Lock(name) }

type file struct {
	fs   *FS
	f    vfs.File
	path string
	dir  bool
}

func (f *file) Write(p []byte) (n int, err error) {
	err = f.fs.do(Op{kind: recWrite, path: f.path, data: slices.Clone(p)}, func() (err error) {
		n, err = f.f.Write(p)
		return err
	})
	return n, err
}

// WriteAt implements vfs.WriterAt for a wrapped file that has it.
func (f *file) WriteAt(p []byte, off int64) (n int, err error) {
	err = f.fs.do(Op{kind: recWriteAt, path: f.path, data: slices.Clone(p), size: off}, func() (err error) {
		n, err = vfs.WriteAt(f.f, p, off)
		return err
	})
	return n, err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

func (f *file) Sync() error {
	kind := recSync
	if f.dir {
		kind = recSyncDir
	}
	return f.fs.do(Op{kind: kind, path: f.path}, f.f.Sync)
}

func (f *file) Close() error { return f.f.Close() }

// Replayer applies a recorded log to a MemFS, one operation at a time.
type Replayer struct {
	fs      *vfs.MemFS
	log     []Op
	next    int
	handles map[uint64]vfs.File
}

// NewReplayer returns a replayer of log onto a copy of base (as a process
// crash leaves it, see vfs.MemFS.Kill), or onto a new MemFS if base is nil.
func NewReplayer(base *vfs.MemFS, log []Op) *Replayer {
	fs := vfs.NewMemFS()
	if base != nil {
		fs = base.Kill()
	}
	return &Replayer{fs: fs, log: log, handles: map[uint64]vfs.File{}}
}

// FS returns the filesystem as replayed so far.
func (p *Replayer) FS() *vfs.MemFS { return p.fs }

// Advance applies operations until the first n are applied.
func (p *Replayer) Advance(n int) error {
	for ; p.next < n; p.next++ {
		if err := p.apply(p.log[p.next]); err != nil {
			return fmt.Errorf("crashtest: replaying operation %d (%s): %w", p.next, p.log[p.next], err)
		}
	}
	return nil
}

func (p *Replayer) apply(op Op) error {
	if op.handle != 0 {
		return p.applyHandle(op)
	}
	m := p.fs
	switch op.kind {
	case recCreate:
		f, err := m.Create(op.path)
		if err != nil {
			return err
		}
		return f.Close()
	case recLink:
		return m.Link(op.path, op.to)
	case recWrite:
		return withAppend(m, op.path, func(f vfs.File) error { _, err := f.Write(op.data); return err })
	case recWriteAt:
		return withAppend(m, op.path, func(f vfs.File) error { _, err := vfs.WriteAt(f, op.data, op.size); return err })
	case recSync:
		return withAppend(m, op.path, func(f vfs.File) error { return f.Sync() })
	case recSyncDir:
		return vfs.SyncDir(m, op.path)
	case recRename:
		return m.Rename(op.path, op.to)
	case recRemove:
		return m.Remove(op.path)
	case recMkdir:
		return m.MkdirAll(op.path)
	case recTruncate:
		return m.Truncate(op.path, op.size)
	}
	return fmt.Errorf("unknown operation %d", op.kind)
}

// handleFile is the File of MemFS.Create and OpenAppend.
type handleFile interface {
	vfs.File
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
}

// applyHandle applies an operation through an open file.
func (p *Replayer) applyHandle(op Op) error {
	switch op.kind {
	case recCreate, recOpen:
		return p.open(op)
	}
	f, ok := p.handles[op.handle].(handleFile)
	if !ok {
		return fmt.Errorf("handle %d is not open", op.handle)
	}
	switch op.kind {
	case recWrite:
		_, err := f.WriteAt(op.data, op.size)
		return err
	case recSync:
		return f.Sync()
	case recTruncate:
		return f.Truncate(op.size)
	case recClose:
		delete(p.handles, op.handle)
		return f.Close()
	}
	return fmt.Errorf("operation %s does not go through a handle", op.kind)
}

func (p *Replayer) open(op Op) error {
	if _, ok := p.handles[op.handle]; ok {
		return fmt.Errorf("handle %d is open already", op.handle)
	}
	open := p.fs.OpenAppend
	if op.kind == recCreate {
		open = p.fs.Create
	}
	f, err := open(op.path)
	if err != nil {
		return err
	}
	p.handles[op.handle] = f
	return nil
}

func withAppend(m *vfs.MemFS, path string, fn func(vfs.File) error) error {
	f, err := m.OpenAppend(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
