package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemFS is an in-memory FS that remembers, for every file and directory, what
// is durable: the content as of the file's last Sync and the entries as of the
// directory's last Sync, plus the writes and directory changes made since.
// Crash builds from that the filesystem a machine would find after a power
// loss. Used without Crash it is simply a fast in-memory filesystem.
//
// Renames are atomic directory operations (both names change together, or
// neither) when source and target share a directory; across directories they
// are a remove in one and a create in the other, each durable on its own.
type MemFS struct {
	mu    sync.Mutex
	root  *memNode
	locks map[string]int // -1: held exclusively; n > 0: by n shared holders
	syncs uint64
}

var (
	_ FS           = (*MemFS)(nil)
	_ SharedLocker = (*MemFS)(nil)
	_ WriterAt     = (*memFile)(nil)
)

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS {
	return &MemFS{root: newDirNode(), locks: map[string]int{}}
}

type memNode struct {
	isDir bool

	// Directories.
	children map[string]*memNode // current entries
	durable  map[string]*memNode // entries as of the last directory sync
	dirOps   []dirOp             // changes since the last directory sync

	// Files.
	data    []byte   // current content
	synced  []byte   // content as of the last Sync
	pending []fileOp // writes and truncates since the last Sync
	modTime time.Time
}

// dirOp is one directory change: set name to node (node != nil), then remove
// removeName if it is set. A same-directory rename sets both.
type dirOp struct {
	name       string
	node       *memNode
	removeName string
}

// fileOp is one write (data at off) or, if truncate, a size change.
type fileOp struct {
	off      int64
	data     []byte
	truncate bool
}

func newDirNode() *memNode {
	return &memNode{isDir: true, children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

func (d *memNode) applyDirOp(op dirOp, entries map[string]*memNode) {
	if op.node != nil {
		entries[op.name] = op.node
	}
	if op.removeName != "" {
		delete(entries, op.removeName)
	}
}

func (d *memNode) change(op dirOp) {
	d.applyDirOp(op, d.children)
	d.dirOps = append(d.dirOps, op)
}

// splitPath turns a path into its components below the MemFS root. Absolute
// and relative paths share one namespace.
func splitPath(name string) []string {
	clean := filepath.ToSlash(filepath.Clean(name))
	clean = strings.TrimPrefix(clean, "/")
	if clean == "." || clean == "" {
		return nil
	}
	return strings.Split(clean, "/")
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// walk returns the node at path, or nil.
func (m *MemFS) walk(parts []string) *memNode {
	n := m.root
	for _, p := range parts {
		if !n.isDir {
			return nil
		}
		n = n.children[p]
		if n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory holding name and the base name.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", pathErr(op, name, fs.ErrInvalid)
	}
	dir := m.walk(parts[:len(parts)-1])
	if dir == nil || !dir.isDir {
		return nil, "", pathErr(op, name, fs.ErrNotExist)
	}
	return dir, parts[len(parts)-1], nil
}

func (m *MemFS) lookupFile(op, name string) (*memNode, error) {
	n := m.walk(splitPath(name))
	if n == nil {
		return nil, pathErr(op, name, fs.ErrNotExist)
	}
	if n.isDir {
		return nil, pathErr(op, name, errors.New("is a directory"))
	}
	return n, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("create", name)
	if err != nil {
		return nil, err
	}
	if n := dir.children[base]; n != nil {
		if n.isDir {
			return nil, pathErr("create", name, errors.New("is a directory"))
		}
		n.truncate(0)
		return &memFile{fs: m, n: n, name: name, writable: true}, nil
	}
	n := &memNode{modTime: time.Now()}
	dir.change(dirOp{name: base, node: n})
	return &memFile{fs: m, n: n, name: name, writable: true}, nil
}

// OpenAppend implements FS.
func (m *MemFS) OpenAppend(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupFile("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, n: n, name: name, writable: true}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupFile("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, n: n, name: name}, nil
}

// OpenDir implements FS.
func (m *MemFS) OpenDir(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.walk(splitPath(name))
	if n == nil {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	if !n.isDir {
		return nil, pathErr("open", name, errors.New("not a directory"))
	}
	return &memFile{fs: m, n: n, name: name}, nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.parent("rename", oldname)
	if err != nil {
		return err
	}
	ndir, nbase, err := m.parent("rename", newname)
	if err != nil {
		return err
	}
	n := odir.children[obase]
	if n == nil {
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	if t := ndir.children[nbase]; t != nil && t.isDir != n.isDir {
		return pathErr("rename", newname, fs.ErrExist)
	}
	if odir == ndir {
		if obase != nbase {
			odir.change(dirOp{name: nbase, node: n, removeName: obase})
		}
		return nil
	}
	ndir.change(dirOp{name: nbase, node: n})
	odir.change(dirOp{removeName: obase})
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n := dir.children[base]
	if n == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.isDir && len(n.children) > 0 {
		return pathErr("remove", name, errors.New("directory not empty"))
	}
	dir.change(dirOp{removeName: base})
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range splitPath(name) {
		c := n.children[p]
		if c == nil {
			c = newDirNode()
			n.change(dirOp{name: p, node: c})
		} else if !c.isDir {
			return pathErr("mkdir", name, errors.New("not a directory"))
		}
		n = c
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.walk(splitPath(dir))
	if n == nil {
		return nil, pathErr("readdir", dir, fs.ErrNotExist)
	}
	if !n.isDir {
		return nil, pathErr("readdir", dir, errors.New("not a directory"))
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := splitPath(name)
	n := m.walk(parts)
	if n == nil {
		return nil, pathErr("stat", name, fs.ErrNotExist)
	}
	base := "/"
	if len(parts) > 0 {
		base = parts[len(parts)-1]
	}
	return memInfo{name: base, size: int64(len(n.data)), dir: n.isDir, mod: n.modTime}, nil
}

// Truncate implements FS.
func (m *MemFS) Truncate(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupFile("truncate", name)
	if err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", name, fs.ErrInvalid)
	}
	n.truncate(size)
	return nil
}

// Lock implements FS.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	key := filepath.ToSlash(filepath.Clean(name))
	m.mu.Lock()
	held := m.locks[key] != 0
	m.mu.Unlock()
	if held {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	if _, err := m.Stat(name); errors.Is(err, fs.ErrNotExist) {
		f, err := m.Create(name)
		if err != nil {
			return nil, err
		}
		f.Close()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[key] != 0 {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	m.locks[key] = -1
	return &memLock{fs: m, key: key}, nil
}

// LockShared implements SharedLocker.
func (m *MemFS) LockShared(name string) (io.Closer, error) {
	key := filepath.ToSlash(filepath.Clean(name))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookupFile("lock", name); err != nil {
		return nil, err
	}
	if m.locks[key] < 0 {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	m.locks[key]++
	return &memLock{fs: m, key: key, shared: true}, nil
}

// Syncs reports how many Sync calls (of files and directories) succeeded.
func (m *MemFS) Syncs() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

type memLock struct {
	fs     *MemFS
	key    string
	shared bool
	once   sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		defer l.fs.mu.Unlock()
		if l.shared && l.fs.locks[l.key] > 1 {
			l.fs.locks[l.key]--
			return
		}
		delete(l.fs.locks, l.key)
	})
	return nil
}

func (n *memNode) truncate(size int64) {
	n.data = resize(n.data, size)
	n.pending = append(n.pending, fileOp{off: size, truncate: true})
	n.modTime = time.Now()
}

// resize returns b with length size, zero-filling any growth.
func resize(b []byte, size int64) []byte {
	if int64(len(b)) >= size {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

// writeAt writes p into b at off, growing b with zeros as needed.
func writeAt(b []byte, off int64, p []byte) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], p)
	return b
}

func (n *memNode) sync() {
	for _, op := range n.pending {
		if op.truncate {
			n.synced = resize(n.synced, op.off)
		} else {
			n.synced = writeAt(n.synced, op.off, op.data)
		}
	}
	n.pending = nil
}

type memFile struct {
	fs       *MemFS
	n        *memNode
	name     string
	writable bool
	closed   bool
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("write", f.name, fs.ErrClosed)
	}
	if !f.writable || f.n.isDir {
		return 0, pathErr("write", f.name, fs.ErrPermission)
	}
	off := int64(len(f.n.data))
	f.n.data = append(f.n.data, p...)
	f.n.pending = append(f.n.pending, fileOp{off: off, data: slices.Clone(p)})
	f.n.modTime = time.Now()
	return len(p), nil
}

// WriteAt implements WriterAt.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("write", f.name, fs.ErrClosed)
	}
	if !f.writable || f.n.isDir {
		return 0, pathErr("write", f.name, fs.ErrPermission)
	}
	if off < 0 {
		return 0, pathErr("write", f.name, fs.ErrInvalid)
	}
	f.n.data = writeAt(f.n.data, off, p)
	f.n.pending = append(f.n.pending, fileOp{off: off, data: slices.Clone(p)})
	f.n.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("read", f.name, fs.ErrClosed)
	}
	if f.n.isDir {
		return 0, pathErr("read", f.name, errors.New("is a directory"))
	}
	if off < 0 {
		return 0, pathErr("read", f.name, fs.ErrInvalid)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("sync", f.name, fs.ErrClosed)
	}
	if f.n.isDir {
		f.n.durable = maps.Clone(f.n.children)
		f.n.dirOps = nil
	} else {
		f.n.sync()
	}
	f.fs.syncs++
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
