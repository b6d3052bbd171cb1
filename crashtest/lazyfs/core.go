package lazyfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/vfs"
)

// core is the lazy filesystem without FUSE: a vfs.MemFS holding what the
// programs on the mount see and what of it is durable, the operations the
// FUSE server maps its requests to, and, when recording, the log of every
// change in the order it was made. One lock orders everything, so the
// log's order is the filesystem's.
type core struct {
	mu      sync.Mutex
	mem     *vfs.MemFS
	gen     uint64        // crashes so far: handles of an older generation are stale
	log     *fsrecord.Log // nil: not recording
	handles uint64        // the last handle number given
	backing string        // "" : nothing is written back

	writes, syncs, dirSyncs atomic.Uint64
}

// errStale is returned for a file opened before a crash: the process that
// opened it is meant to be gone.
var errStale = errors.New("lazyfs: the file was opened before a crash")

// handle is an open file of the mount.
type handle struct {
	id     uint64
	gen    uint64
	path   string // when it was opened, for the log
	f      memFile
	append bool // O_APPEND: every write goes to the end
	write  bool // opened for writing
}

// memFile is the File of MemFS.Create and OpenAppend.
type memFile interface {
	vfs.File
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

func newCore(mem *vfs.MemFS, backing string, record bool) *core {
	c := &core{mem: mem, backing: backing}
	if record {
		c.log = &fsrecord.Log{}
	}
	return c
}

// did logs op, if recording; the caller holds c.mu and did op.
func (c *core) did(op fsrecord.Op) {
	if c.log != nil {
		c.log.Add(op)
	}
}

// clock is the number of changes logged so far.
func (c *core) clock() uint64 {
	if c.log == nil {
		return 0
	}
	return c.log.Clock()
}

func (c *core) stat(p string) (fs.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mem.Stat(p)
}

// entry is one name of a directory listing.
type entry struct {
	name string
	info fs.FileInfo
}

func (c *core) list(dir string) ([]entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names, err := c.mem.List(dir)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(names))
	for _, n := range names {
		if info, err := c.mem.Stat(path.Join(dir, n)); err == nil {
			out = append(out, entry{n, info})
		}
	}
	return out, nil
}

// create makes (or, without excl, opens) the file p with perm.
func (c *core) create(p string, flags int, perm fs.FileMode) (*handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.mem.Stat(p); err == nil {
		if flags&os.O_EXCL != 0 {
			return nil, &fs.PathError{Op: "create", Path: p, Err: fs.ErrExist}
		}
		return c.openLocked(p, flags)
	}
	f, err := c.mem.Create(p)
	if err != nil {
		return nil, err
	}
	if err := c.mem.Chmod(p, perm); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	h := c.newHandle(p, f, flags)
	c.did(fsrecord.CreateOp(p, h.id))
	return h, nil
}

func (c *core) open(p string, flags int) (*handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openLocked(p, flags)
}

func (c *core) openLocked(p string, flags int) (*handle, error) {
	f, err := c.mem.OpenAppend(p)
	if err != nil {
		return nil, err
	}
	h := c.newHandle(p, f, flags)
	c.did(fsrecord.OpenOp(p, h.id))
	if flags&os.O_TRUNC != 0 && h.write {
		if err := h.f.Truncate(0); err != nil {
			return nil, err
		}
		c.did(fsrecord.TruncateOp(p, h.id, 0))
	}
	return h, nil
}

func (c *core) newHandle(p string, f vfs.File, flags int) *handle {
	c.handles++
	acc := flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	return &handle{id: c.handles, gen: c.gen, path: p, f: f.(memFile), append: flags&os.O_APPEND != 0,
		write: acc == os.O_WRONLY || acc == os.O_RDWR}
}

// live checks that h is of this generation; the caller holds c.mu.
func (c *core) live(h *handle) error {
	if h.gen != c.gen {
		return errStale
	}
	return nil
}

func (c *core) read(h *handle, dest []byte, off int64) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.live(h); err != nil {
		return nil, err
	}
	n, err := h.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return dest[:n], nil
}

func (c *core) write(h *handle, data []byte, off int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.live(h); err != nil {
		return err
	}
	if !h.write {
		return syscall.EBADF
	}
	if h.append {
		info, err := h.f.Stat()
		if err != nil {
			return err
		}
		off = info.Size()
	}
	if _, err := h.f.WriteAt(data, off); err != nil {
		return err
	}
	c.writes.Add(1)
	c.did(fsrecord.WriteAtOp(h.path, h.id, off, data))
	return nil
}

// sync is fsync and fdatasync of an open file: its content becomes
// durable (its name only with a sync of its directory).
func (c *core) sync(h *handle) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.live(h); err != nil {
		return err
	}
	if err := h.f.Sync(); err != nil {
		return err
	}
	c.syncs.Add(1)
	c.did(fsrecord.SyncOp(h.path, h.id))
	return nil
}

func (c *core) truncate(h *handle, p string, size int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == nil {
		if err := c.mem.Truncate(p, size); err != nil {
			return err
		}
		c.did(fsrecord.TruncateOp(p, 0, size))
		return nil
	}
	if err := c.live(h); err != nil {
		return err
	}
	if err := h.f.Truncate(size); err != nil {
		return err
	}
	c.did(fsrecord.TruncateOp(h.path, h.id, size))
	return nil
}

// handleStat is fstat.
func (c *core) handleStat(h *handle) (fs.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.live(h); err != nil {
		return nil, err
	}
	return h.f.Stat()
}

func (c *core) release(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.gen != c.gen {
		return // its file is gone with the crash, and so is the log's
	}
	h.f.Close()
	c.did(fsrecord.CloseOp(h.path, h.id))
}

func (c *core) mkdir(p string, perm fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.mem.Stat(p); err == nil {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	if _, err := c.mem.Stat(path.Dir(p)); err != nil {
		return err
	}
	if err := c.mem.MkdirAll(p); err != nil {
		return err
	}
	c.did(fsrecord.MkdirOp(p))
	return c.mem.Chmod(p, perm)
}

// remove is unlink (dir false) and rmdir (dir true).
func (c *core) remove(p string, dir bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, err := c.mem.Stat(p)
	switch {
	case err != nil:
		return err
	case dir && !info.IsDir():
		return syscall.ENOTDIR
	case !dir && info.IsDir():
		return syscall.EISDIR
	}
	if err := c.mem.Remove(p); err != nil {
		return err
	}
	c.did(fsrecord.RemoveOp(p))
	return nil
}

func (c *core) rename(from, to string, noReplace bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.mem.Stat(to); err == nil && noReplace {
		return &fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist}
	}
	if err := c.mem.Rename(from, to); err != nil {
		return err
	}
	c.did(fsrecord.RenameOp(from, to))
	return nil
}

func (c *core) link(from, to string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.mem.Link(from, to); err != nil {
		return err
	}
	c.did(fsrecord.LinkOp(from, to))
	return nil
}

// syncDir is fsync of a directory: its entries become durable.
func (c *core) syncDir(p string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := vfs.SyncDir(c.mem, p); err != nil {
		return err
	}
	c.dirSyncs.Add(1)
	c.did(fsrecord.SyncDirOp(p))
	return nil
}

func (c *core) chmod(p string, perm fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mem.Chmod(p, perm)
}

func (c *core) chtimes(p string, mtime time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mem.Chtimes(p, mtime)
}

// zero writes zeros over n bytes at off of the file open as h (a punched
// hole or a zeroed range); with keepSize the file does not grow.
func (c *core) zero(h *handle, off, n int64, keepSize bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.live(h); err != nil {
		return err
	}
	info, err := h.f.Stat()
	if err != nil {
		return err
	}
	if keepSize {
		n = min(n, info.Size()-off)
	}
	if n <= 0 {
		return nil
	}
	zeros := make([]byte, n)
	if _, err := h.f.WriteAt(zeros, off); err != nil {
		return err
	}
	c.did(fsrecord.WriteAtOp(h.path, h.id, off, zeros))
	return nil
}

// grow makes the file open as h at least size bytes long (fallocate).
func (c *core) grow(h *handle, size int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.live(h); err != nil {
		return err
	}
	info, err := h.f.Stat()
	if err != nil || info.Size() >= size {
		return err
	}
	if err := h.f.Truncate(size); err != nil {
		return err
	}
	c.did(fsrecord.TruncateOp(h.path, h.id, size))
	return nil
}
