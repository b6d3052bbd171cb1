package lazyfs

import (
	"context"
	"os"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/in-mem/inmem/crashtest/proc"
)

// ackName is the acknowledgement file the lazy scenario's explorer serves
// in the mount's root (and nowhere else, and not in listings).
const ackName = ".inmem-lazyfs-acks"

// ackFile is a workload child's acknowledgement pipe (its fd 3), served by
// the mount: a line's write(2) reaches the server in order with the
// child's filesystem operations, so each line is stamped with the exact
// length of the change log when it was written (proc.StampedAcks; package
// kernel's barrier recorder does the same at the block level).
type ackFile struct {
	gofs.Inode
	*proc.StampedAcks
}

func newAckFile(clock func() uint64) *ackFile {
	return &ackFile{StampedAcks: proc.NewStampedAcks(clock)}
}

func (a *ackFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &ackHandle{}, fuse.FOPEN_DIRECT_IO, 0
}

// ackHandle is an open acknowledgement file. NB: a handle, because go-fuse
// calls Release only for opens that returned one.
type ackHandle struct{}

func (a *ackFile) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if err := a.StampedAcks.Write(data); err != nil {
		return 0, syscall.EIO
	}
	return uint32(len(data)), 0
}

func (a *ackFile) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno { return 0 }

// Release comes when the last descriptor (the child's) is closed.
func (a *ackFile) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	a.Close()
	return 0
}

func (a *ackFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFREG | 0o200
	return 0
}

// pipe is proc.RecordConfig.AckPipe: the tester reads a pipe this file
// feeds; the child writes the file.
func (a *ackFile) pipe(mountpoint string) (*os.File, *os.File, error) {
	pr, err := a.StampedAcks.Open()
	if err != nil {
		return nil, nil, err
	}
	child, err := os.OpenFile(mountpoint+"/"+ackName, os.O_WRONLY, 0)
	if err != nil {
		pr.Close()
		a.Close()
		return nil, nil, err
	}
	return pr, child, nil
}
