package powerloss

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/in-mem/inmem/vfs"
)

// fsOpKind is a recorded filesystem operation.
type fsOpKind uint8

const (
	recCreate fsOpKind = iota
	recWrite
	recSync
	recSyncDir
	recRename
	recRemove
	recMkdir
	recTruncate
)

var recNames = [...]string{"create", "write", "sync", "sync-dir", "rename", "remove", "mkdir", "truncate"}

func (k fsOpKind) String() string { return recNames[k] }

// fsOp is one recorded operation that changes what a filesystem holds.
type fsOp struct {
	kind fsOpKind
	path string
	to   string // rename target
	data []byte // write
	size int64  // truncate
}

func (o fsOp) String() string {
	switch o.kind {
	case recWrite:
		return fmt.Sprintf("write %d bytes to %s", len(o.data), o.path)
	case recRename:
		return fmt.Sprintf("rename %s to %s", o.path, o.to)
	case recTruncate:
		return fmt.Sprintf("truncate %s to %d", o.path, o.size)
	}
	return fmt.Sprintf("%s %s", o.kind, o.path)
}

// isSync reports whether the operation is a sync point.
func (o fsOp) isSync() bool { return o.kind == recSync || o.kind == recSyncDir }

// recordFS performs every operation on a MemFS and logs, in order, each one
// that changes it, so the history can be replayed to any point. Its clock is
// the number of operations logged. Writes and syncs through a handle are
// logged by the path the handle was opened with: the engine never renames a
// file it has open, so replaying by path is exact.
type recordFS struct {
	inner *vfs.MemFS

	mu  sync.Mutex
	log []fsOp
	n   atomic.Uint64
}

var _ vfs.FS = (*recordFS)(nil)

func newRecordFS() *recordFS { return &recordFS{inner: vfs.NewMemFS()} }

// Clock returns the number of operations logged so far.
func (r *recordFS) Clock() uint64 { return r.n.Load() }

// Log returns the operations logged so far.
func (r *recordFS) Log() []fsOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// do performs fn and, if it succeeded, logs op, atomically with respect to
// other logged operations.
func (r *recordFS) do(op fsOp, fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := fn(); err != nil {
		return err
	}
	r.log = append(r.log, op)
	r.n.Store(uint64(len(r.log)))
	return nil
}

func (r *recordFS) open(name string, kind fsOpKind, open func(string) (vfs.File, error)) (vfs.File, error) {
	var f vfs.File
	err := r.do(fsOp{kind: kind, path: name}, func() (err error) {
		f, err = open(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &recordFile{fs: r, f: f, path: name}, nil
}

func (r *recordFS) Create(name string) (vfs.File, error) {
	return r.open(name, recCreate, r.inner.Create)
}

func (r *recordFS) OpenAppend(name string) (vfs.File, error) {
	f, err := r.inner.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return &recordFile{fs: r, f: f, path: name}, nil
}

func (r *recordFS) Open(name string) (vfs.File, error) { return r.inner.Open(name) }

func (r *recordFS) OpenDir(name string) (vfs.File, error) {
	f, err := r.inner.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &recordFile{fs: r, f: f, path: name, dir: true}, nil
}

func (r *recordFS) Rename(oldname, newname string) error {
	return r.do(fsOp{kind: recRename, path: oldname, to: newname}, func() error { return r.inner.Rename(oldname, newname) })
}

func (r *recordFS) Remove(name string) error {
	return r.do(fsOp{kind: recRemove, path: name}, func() error { return r.inner.Remove(name) })
}

func (r *recordFS) MkdirAll(dir string) error {
	return r.do(fsOp{kind: recMkdir, path: dir}, func() error { return r.inner.MkdirAll(dir) })
}

func (r *recordFS) Truncate(name string, size int64) error {
	return r.do(fsOp{kind: recTruncate, path: name, size: size}, func() error { return r.inner.Truncate(name, size) })
}

func (r *recordFS) List(dir string) ([]string, error)     { return r.inner.List(dir) }
func (r *recordFS) Stat(name string) (fs.FileInfo, error) { return r.inner.Stat(name) }
func (r *recordFS) Lock(name string) (io.Closer, error)   { return r.inner.Lock(name) }

type recordFile struct {
	fs   *recordFS
	f    vfs.File
	path string
	dir  bool
}

func (f *recordFile) Write(p []byte) (n int, err error) {
	err = f.fs.do(fsOp{kind: recWrite, path: f.path, data: slices.Clone(p)}, func() (err error) {
		n, err = f.f.Write(p)
		return err
	})
	return n, err
}

func (f *recordFile) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

func (f *recordFile) Sync() error {
	kind := recSync
	if f.dir {
		kind = recSyncDir
	}
	return f.fs.do(fsOp{kind: kind, path: f.path}, f.f.Sync)
}

func (f *recordFile) Close() error { return f.f.Close() }

// replayer applies a recorded log to a fresh MemFS, one operation at a time.
type replayer struct {
	fs   *vfs.MemFS
	log  []fsOp
	next int
}

func newReplayer(log []fsOp) *replayer { return &replayer{fs: vfs.NewMemFS(), log: log} }

// advance applies operations until the first n are applied.
func (p *replayer) advance(n int) error {
	for ; p.next < n; p.next++ {
		if err := p.apply(p.log[p.next]); err != nil {
			return fmt.Errorf("crashtest: replaying operation %d (%s): %w", p.next, p.log[p.next], err)
		}
	}
	return nil
}

func (p *replayer) apply(op fsOp) error {
	m := p.fs
	switch op.kind {
	case recCreate:
		f, err := m.Create(op.path)
		if err != nil {
			return err
		}
		return f.Close()
	case recWrite:
		return withAppend(m, op.path, func(f vfs.File) error { _, err := f.Write(op.data); return err })
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
