package lazyfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/in-mem/inmem/vfs"
)

// The FUSE side: every request is mapped to the core by path (names) or
// by handle (an open file's reads, writes, syncs and truncates, which
// reach that file wherever it is named by then). Entries and attributes
// are never cached by the kernel (zero timeouts), so that a crash, which
// swaps the whole tree, shows at once.

// node is a file or directory of the mount.
type node struct {
	gofs.Inode
	c    *core
	acks *ackFile // the root's, when the acknowledgement file is served
}

var (
	_ gofs.NodeLookuper  = (*node)(nil)
	_ gofs.NodeGetattrer = (*node)(nil)
	_ gofs.NodeSetattrer = (*node)(nil)
	_ gofs.NodeReaddirer = (*node)(nil)
	_ gofs.NodeCreater   = (*node)(nil)
	_ gofs.NodeOpener    = (*node)(nil)
	_ gofs.NodeMkdirer   = (*node)(nil)
	_ gofs.NodeRmdirer   = (*node)(nil)
	_ gofs.NodeUnlinker  = (*node)(nil)
	_ gofs.NodeRenamer   = (*node)(nil)
	_ gofs.NodeLinker    = (*node)(nil)
	_ gofs.NodeFsyncer   = (*node)(nil)
	_ gofs.NodeStatfser  = (*node)(nil)
	_ gofs.NodeAllocater = (*node)(nil)
	_ gofs.NodeOnAdder   = (*node)(nil)
	_ gofs.FileReader    = (*fileHandle)(nil)
	_ gofs.FileWriter    = (*fileHandle)(nil)
	_ gofs.FileFlusher   = (*fileHandle)(nil)
	_ gofs.FileReleaser  = (*fileHandle)(nil)
)

// path returns the node's path in the core's namespace ("/a/b").
func (n *node) path() string { return "/" + n.Path(nil) }

func (n *node) child(name string) string { return path.Join(n.path(), name) }

// errno maps an error of the core to the reply.
func errno(err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, fs.ErrClosed):
		return syscall.EBADF
	}
	return syscall.EIO
}

// fill describes info as an attribute reply.
func fill(a *fuse.Attr, info fs.FileInfo) {
	st, _ := info.Sys().(*vfs.MemStat)
	a.Mode = uint32(info.Mode().Perm()) | syscall.S_IFREG
	a.Nlink = 1
	if st != nil {
		a.Ino, a.Nlink = st.Ino, max(st.Nlink, 1)
	}
	if info.IsDir() {
		// NB: 1, "not counted" (as btrfs says): a directory's 2 would tell
		// find and fts it has no subdirectories.
		a.Mode, a.Nlink = uint32(info.Mode().Perm())|syscall.S_IFDIR, 1
	}
	a.Size = uint64(info.Size())
	a.Blksize = vfs.PageSize
	a.Blocks = (a.Size + 511) / 512
	mt := info.ModTime()
	a.SetTimes(&mt, &mt, &mt)
	a.Owner = fuse.Owner{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
}

// inode returns the node of a path just looked up or made.
func (n *node) inode(ctx context.Context, info fs.FileInfo, out *fuse.EntryOut) *gofs.Inode {
	fill(&out.Attr, info)
	mode := uint32(syscall.S_IFREG)
	if info.IsDir() {
		mode = syscall.S_IFDIR
	}
	return n.NewInode(ctx, &node{c: n.c}, gofs.StableAttr{Mode: mode, Ino: out.Attr.Ino})
}

func (n *node) OnAdd(ctx context.Context) {
	if n.acks != nil {
		a := n.NewPersistentInode(ctx, n.acks, gofs.StableAttr{Mode: syscall.S_IFREG})
		n.AddChild(ackName, a, true)
	}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.acks != nil && name == ackName && n.IsRoot() {
		out.Attr.Mode = syscall.S_IFREG | 0o200
		return n.GetChild(ackName), 0
	}
	info, err := n.c.stat(n.child(name))
	if err != nil {
		return nil, errno(err)
	}
	return n.inode(ctx, info, out), 0
}

func (n *node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var info fs.FileInfo
	var err error
	if h, ok := fh.(*fileHandle); ok {
		info, err = n.c.handleStat(h.h)
	} else {
		info, err = n.c.stat(n.path())
	}
	if err != nil {
		return errno(err)
	}
	fill(&out.Attr, info)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		var h *handle
		if fh, ok := fh.(*fileHandle); ok {
			h = fh.h
		}
		if err := n.c.truncate(h, n.path(), int64(size)); err != nil {
			return errno(err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		if err := n.c.chmod(n.path(), fs.FileMode(mode).Perm()); err != nil {
			return errno(err)
		}
	}
	if mt, ok := in.GetMTime(); ok {
		if err := n.c.chtimes(n.path(), mt); err != nil {
			return errno(err)
		}
	}
	return n.Getattr(ctx, fh, out)
}

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	entries, err := n.c.list(n.path())
	if err != nil {
		return nil, errno(err)
	}
	list := make([]fuse.DirEntry, 0, len(entries))
	for _, e := range entries {
		var a fuse.Attr
		fill(&a, e.info)
		list = append(list, fuse.DirEntry{Name: e.name, Mode: a.Mode, Ino: a.Ino})
	}
	return gofs.NewListDirStream(list), 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	h, err := n.c.create(n.child(name), int(flags), fs.FileMode(mode).Perm())
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	info, err := n.c.handleStat(h)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	return n.inode(ctx, info, out), &fileHandle{c: n.c, h: h}, 0, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h, err := n.c.open(n.path(), int(flags))
	if err != nil {
		return nil, 0, errno(err)
	}
	return &fileHandle{c: n.c, h: h}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := n.child(name)
	if err := n.c.mkdir(p, fs.FileMode(mode).Perm()); err != nil {
		return nil, errno(err)
	}
	info, err := n.c.stat(p)
	if err != nil {
		return nil, errno(err)
	}
	return n.inode(ctx, info, out), 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(n.c.remove(n.child(name), true))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(n.c.remove(n.child(name), false))
}

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE and RENAME_WHITEOUT are not served
	}
	to := path.Join("/"+newParent.EmbeddedInode().Path(nil), newName)
	return errno(n.c.rename(n.child(name), to, flags&unix.RENAME_NOREPLACE != 0))
}

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := n.child(name)
	if err := n.c.link("/"+target.EmbeddedInode().Path(nil), p); err != nil {
		return nil, errno(err)
	}
	info, err := n.c.stat(p)
	if err != nil {
		return nil, errno(err)
	}
	return n.inode(ctx, info, out), 0
}

// Fsync serves fsync and fdatasync of files and of directories (go-fuse
// sends a directory's here too).
func (n *node) Fsync(ctx context.Context, fh gofs.FileHandle, flags uint32) syscall.Errno {
	if h, ok := fh.(*fileHandle); ok {
		return errno(n.c.sync(h.h))
	}
	if n.IsDir() {
		return errno(n.c.syncDir(n.path()))
	}
	h, err := n.c.open(n.path(), os.O_RDONLY)
	if err != nil {
		return errno(err)
	}
	defer n.c.release(h)
	return errno(n.c.sync(h))
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 24 // 64 GiB of 4 KiB blocks: room, not a promise
	*out = fuse.StatfsOut{Blocks: blocks, Bfree: blocks, Bavail: blocks, Files: 1 << 20, Ffree: 1 << 20,
		Bsize: vfs.PageSize, NameLen: 255, Frsize: vfs.PageSize}
	return 0
}

// Allocate serves fallocate: plain preallocation grows the file, a punched
// hole or zeroed range is a write of zeros, KEEP_SIZE alone changes
// nothing.
func (n *node) Allocate(ctx context.Context, fh gofs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	h, ok := fh.(*fileHandle)
	if !ok {
		return syscall.EBADF
	}
	switch {
	case mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0:
		return errno(n.c.zero(h.h, int64(off), int64(size), mode&unix.FALLOC_FL_KEEP_SIZE != 0))
	case mode&^unix.FALLOC_FL_KEEP_SIZE != 0:
		return syscall.EOPNOTSUPP
	case mode&unix.FALLOC_FL_KEEP_SIZE != 0:
		return 0
	}
	return errno(n.c.grow(h.h, int64(off+size)))
}

// fileHandle is an open file of the mount.
type fileHandle struct {
	c *core
	h *handle
}

func (f *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	b, err := f.c.read(f.h, dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(b), 0
}

func (f *fileHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if err := f.c.write(f.h, data, off); err != nil {
		return 0, errno(err)
	}
	return uint32(len(data)), 0
}

// Flush is close(2), not a durability barrier.
func (f *fileHandle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (f *fileHandle) Release(ctx context.Context) syscall.Errno {
	f.c.release(f.h)
	return 0
}

// mountFUSE serves root on dir. Entries and attributes are not cached,
// and neither writeback caching nor passthrough is allowed: every write
// and every sync reaches the core.
func mountFUSE(dir string, root *node) (*fuse.Server, error) {
	zero := time.Duration(0)
	opts := &gofs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		MountOptions: fuse.MountOptions{
			DirectMount:          true,
			FsName:               "inmem-lazyfs",
			Name:                 "inmem-lazyfs",
			MaxWrite:             1 << 20,
			DisableXAttrs:        true,
			DisabledCapabilities: fuse.CAP_PASSTHROUGH | fuse.CAP_WRITEBACK_CACHE,
		},
	}
	return gofs.Mount(dir, root, opts)
}
