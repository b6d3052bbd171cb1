package lazyfs

import (
	"context"
	"os"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ackName is the acknowledgement file the lazy scenario's explorer serves
// in the mount's root (and nowhere else, and not in listings).
const ackName = ".inmem-lazyfs-acks"

// ackFile is a workload child's acknowledgement pipe (its fd 3), served by
// the mount: a line's write(2) reaches the server in order with the
// child's filesystem operations, so each line is stamped with the exact
// length of the change log when it was written. (Package kernel's barrier
// recorder does the same at the block level.)
type ackFile struct {
	gofs.Inode
	clock func() uint64

	mu     sync.Mutex
	out    *os.File // where lines go on to the tester (nil: closed)
	stamps []uint64 // the clock when each line was written, in order
	next   int      // the next stamp stamp hands out
}

func (a *ackFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &ackHandle{}, fuse.FOPEN_DIRECT_IO, 0
}

// ackHandle is an open acknowledgement file. NB: a handle, because go-fuse
// calls Release only for opens that returned one.
type ackHandle struct{}

func (a *ackFile) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out == nil {
		return 0, syscall.EBADF
	}
	now := a.clock()
	for _, b := range data {
		if b == '\n' {
			a.stamps = append(a.stamps, now)
		}
	}
	if _, err := a.out.Write(data); err != nil {
		return 0, syscall.EIO
	}
	return uint32(len(data)), 0
}

func (a *ackFile) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno { return 0 }

// Release comes when the last descriptor (the child's) is closed.
func (a *ackFile) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	a.close()
	return 0
}

func (a *ackFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFREG | 0o200
	return 0
}

// stamp returns the stamp of the next line the tester reads: lines reach
// it in the order they were written.
func (a *ackFile) stamp() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= len(a.stamps) {
		return a.clock() // cannot happen: every line was stamped on its way
	}
	a.next++
	return a.stamps[a.next-1]
}

func (a *ackFile) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out != nil {
		a.out.Close()
		a.out = nil
	}
}

// pipe is proc.RecordConfig.AckPipe: the tester reads a pipe this file
// feeds; the child writes the file.
func (a *ackFile) pipe(mountpoint string) (*os.File, *os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	a.out, a.stamps, a.next = pw, nil, 0
	a.mu.Unlock()
	child, err := os.OpenFile(mountpoint+"/"+ackName, os.O_WRONLY, 0)
	if err != nil {
		pr.Close()
		a.close()
		return nil, nil, err
	}
	return pr, child, nil
}
