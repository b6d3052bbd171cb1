package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/in-mem/inmem/crashtest/proc"
	"golang.org/x/sys/unix"
)

// The block-level lazy layer: the barrier explorer's loop device sits on an
// image file that our own FUSE filesystem serves, so every write ext4 sends
// to the device, and every flush (a loop device turns REQ_PREFLUSH, and FUA,
// into an fsync of its file), reaches imageRecorder in the order the kernel
// issued them: the log dm-log-writes keeps, without a kernel module.

// blockOp is one operation the kernel sent to the device.
type blockOp struct {
	barrier bool   // a flush: everything before it is on stable storage
	off     int64  // a write's offset
	data    []byte // a write's bytes (nil with zero > 0: a zeroed range)
	zero    int64  // a zeroed range's length (fallocate punch hole or zero range)
}

func (o blockOp) size() int64 {
	if o.data != nil {
		return int64(len(o.data))
	}
	return o.zero
}

// imageRecorder holds the image in memory and logs what changes it. It
// also carries the workload child's acknowledgement pipe (see ackFile), so
// every acknowledgement is stamped with the exact length of the log when
// the child wrote it.
type imageRecorder struct {
	mu  sync.Mutex
	img []byte
	log []blockOp
	n   atomic.Uint64 // len(log): the explorer's clock

	acks *proc.StampedAcks // stamped with clock
}

func newImageRecorder(img []byte) *imageRecorder {
	r := &imageRecorder{img: img}
	r.acks = proc.NewStampedAcks(r.clock)
	return r
}

// clock returns the number of operations logged so far.
func (r *imageRecorder) clock() uint64 { return r.n.Load() }

func (r *imageRecorder) append(op blockOp) {
	r.log = append(r.log, op)
	r.n.Store(uint64(len(r.log)))
}

// ops returns the log.
func (r *imageRecorder) ops() []blockOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log
}

func (r *imageRecorder) write(off int64, data []byte) syscall.Errno {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 || off+int64(len(data)) > int64(len(r.img)) {
		return syscall.ENOSPC // the image never grows
	}
	copy(r.img[off:], data)
	r.append(blockOp{off: off, data: append([]byte(nil), data...)})
	return 0
}

func (r *imageRecorder) zeroRange(off, n int64) syscall.Errno {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 || n < 0 || off >= int64(len(r.img)) {
		return syscall.EINVAL
	}
	n = min(n, int64(len(r.img))-off)
	clear(r.img[off : off+n])
	r.append(blockOp{off: off, zero: n})
	return 0
}

func (r *imageRecorder) barrier() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.append(blockOp{barrier: true})
}

func (r *imageRecorder) read(dest []byte, off int64) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	off = min(max(off, 0), int64(len(r.img)))
	n := copy(dest, r.img[off:])
	return dest[:n]
}

func (r *imageRecorder) size() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.img))
}

// The files of the recording filesystem.
const (
	imageName = "disk.img"
	ackName   = "acks"
)

// imageDir is the root of the recording filesystem.
type imageDir struct {
	fs.Inode
	rec *imageRecorder
}

var _ fs.NodeOnAdder = (*imageDir)(nil)

func (d *imageDir) OnAdd(ctx context.Context) {
	f := d.NewPersistentInode(ctx, &imageFile{rec: d.rec}, fs.StableAttr{Mode: fuse.S_IFREG, Ino: 2})
	d.AddChild(imageName, f, false)
	a := d.NewPersistentInode(ctx, &ackFile{rec: d.rec}, fs.StableAttr{Mode: fuse.S_IFREG, Ino: 3})
	d.AddChild(ackName, a, false)
}

// ackFile is the workload child's acknowledgement pipe (its fd 3), served
// by the recorder: a line's write(2) reaches us in order with the device's
// writes and flushes, so its stamp is exact. A stamp taken where the tester
// reads the pipe would lag by milliseconds: a fast workload finishes before
// the reader is scheduled, and every acknowledgement would look as late as
// the last barrier (weakening, not breaking, the judgement).
type ackFile struct {
	fs.Inode
	rec *imageRecorder
}

var (
	_ fs.NodeOpener    = (*ackFile)(nil)
	_ fs.NodeWriter    = (*ackFile)(nil)
	_ fs.NodeReleaser  = (*ackFile)(nil)
	_ fs.NodeGetattrer = (*ackFile)(nil)
)

// ackHandle is an open acks file. NB: a handle, because go-fuse calls
// Release only for opens that returned one.
type ackHandle struct{}

func (a *ackFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &ackHandle{}, fuse.FOPEN_DIRECT_IO, 0
}

func (a *ackFile) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if err := a.rec.acks.Write(data); err != nil {
		return 0, syscall.EIO
	}
	return uint32(len(data)), 0
}

// Release comes when the last descriptor (the child's) is closed.
func (a *ackFile) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	a.rec.acks.Close()
	return 0
}

func (a *ackFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFREG | 0o200
	return 0
}

// imageFile is the image: reads and writes go to the recorder, fsync is a
// barrier. Opened with direct I/O, so no page cache of ours sits between
// the loop device and the recorder.
type imageFile struct {
	fs.Inode
	rec *imageRecorder
}

var (
	_ fs.NodeOpener    = (*imageFile)(nil)
	_ fs.NodeReader    = (*imageFile)(nil)
	_ fs.NodeWriter    = (*imageFile)(nil)
	_ fs.NodeFsyncer   = (*imageFile)(nil)
	_ fs.NodeFlusher   = (*imageFile)(nil)
	_ fs.NodeGetattrer = (*imageFile)(nil)
	_ fs.NodeSetattrer = (*imageFile)(nil)
	_ fs.NodeAllocater = (*imageFile)(nil)
)

func (f *imageFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *imageFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultData(f.rec.read(dest, off)), 0
}

func (f *imageFile) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := f.rec.write(off, data); errno != 0 {
		return 0, errno
	}
	return uint32(len(data)), 0
}

func (f *imageFile) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	f.rec.barrier()
	return 0
}

// Flush is close(2), not a durability barrier.
func (f *imageFile) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }

func (f *imageFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFREG | 0o600
	out.Size = uint64(f.rec.size())
	out.Blksize = 4096
	out.Blocks = (out.Size + 511) / 512
	return 0
}

// Setattr accepts what does not change the size: the image never grows.
func (f *imageFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok && int64(sz) != f.rec.size() {
		return syscall.EPERM
	}
	return f.Getattr(ctx, fh, out)
}

// Allocate zeroes the range for a punch hole or zero range (a loop device's
// discard and write-zeroes); plain preallocation changes nothing.
func (f *imageFile) Allocate(ctx context.Context, fh fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	if mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) == 0 {
		return 0
	}
	return f.rec.zeroRange(int64(off), int64(size))
}

// recordingFS is the mounted recording filesystem.
type recordingFS struct {
	dir    string
	server *fuse.Server
	rec    *imageRecorder
}

// mountRecorder serves img as dir/disk.img. DirectMountStrict: mount(2)
// ourselves, never fusermount; no passthrough and no writeback cache, so
// every write reaches the recorder.
func mountRecorder(dir string, img []byte) (*recordingFS, error) {
	rec := newImageRecorder(img)
	opts := &fs.Options{MountOptions: fuse.MountOptions{
		DirectMountStrict:    true,
		FsName:               "inmem-barriers",
		Name:                 "inmem-barriers",
		MaxWrite:             1 << 20,
		DisableXAttrs:        true,
		DisabledCapabilities: fuse.CAP_PASSTHROUGH | fuse.CAP_WRITEBACK_CACHE,
	}}
	server, err := fs.Mount(dir, &imageDir{rec: rec}, opts)
	if err != nil {
		return nil, fmt.Errorf("mounting the recording filesystem on %s: %w", dir, err)
	}
	return &recordingFS{dir: dir, server: server, rec: rec}, nil
}

func (r *recordingFS) image() string { return r.dir + "/" + imageName }

// ackPipe is crashEnv.ackPipe: the tester reads a pipe the recorder feeds;
// the child writes the recording filesystem's acks file.
func (r *recordingFS) ackPipe() (*os.File, *os.File, error) {
	pr, err := r.rec.acks.Open()
	if err != nil {
		return nil, nil, err
	}
	child, err := os.OpenFile(r.dir+"/"+ackName, os.O_WRONLY, 0)
	if err != nil {
		pr.Close()
		r.rec.acks.Close()
		return nil, nil, err
	}
	return pr, child, nil
}

// unmount stops serving; the loop device must be detached first.
func (r *recordingFS) unmount() error {
	if r == nil || r.server == nil {
		return nil
	}
	r.rec.acks.Close()
	err := r.server.Unmount()
	if err != nil {
		err = errors.Join(err, unix.Unmount(r.dir, unix.MNT_DETACH))
	}
	r.server = nil
	return err
}
