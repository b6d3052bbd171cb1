// Package lazyfs is a lazy filesystem: a FUSE mount over a backing
// directory that keeps what programs write in its own cache until they
// sync it, and loses, on command, what they did not. Any program, in any
// language, runs on it unchanged; a crash then shows whether the program
// synced what it relied on. It is in-mem's answer to LazyFS, and the
// ground of the `lazy` crash scenario.
//
// # Durability
//
// A write is visible at once and durable once its file is synced (fsync
// or fdatasync). A create, rename, link or unlink, and a mkdir or rmdir,
// is visible at once and durable once its parent directory is synced
// (fsync of the directory). Until then a crash may lose it. Permissions
// and times are kept as they are at the crash.
//
// A crash takes a policy (vfs.CrashPolicy, spelled as ParsePolicy reads
// it):
//
//	drop          every unsynced change is lost
//	keep          nothing is lost (a process crash)
//	random:SEED   a seeded subset of the unsynced writes and entries survives,
//	              a kept write torn at 512-byte sectors or garbled in its
//	              last sector
//	pages:SEED    a seeded subset of the 4 KiB pages of the unsynced writes
//	              survives, a kept page possibly torn at sectors
//	reorder:SEED  a later unsynced change of a file or directory survives
//	              while an earlier one is lost
//
// and returns a Report: every change that was not durable (files and
// their ranges, directory entries) and what the policy did with it. The
// state the crash leaves is what the mount shows from then on, and is
// written to the backing directory; files opened before the crash fail
// with EIO (the processes that opened them are meant to be gone).
//
// # Use
//
// From Go, as net/http/httptest is used:
//
//	fs, err := lazyfs.Mount(backing, mnt, nil)
//	... run the program on mnt, stop it ...
//	report, err := fs.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
//	... run it again on mnt: what it finds is what a power loss left ...
//	err = fs.Unmount()
//
// From anywhere: `inmem lazyfs mount BACKING MOUNTPOINT` mounts it and
// answers a line protocol on a unix socket (crash, report, clear, stats),
// documented in docs/lazyfs.md. Mount needs Linux and FUSE (Available
// says what is missing).
//
// # Crash testing
//
// Explore runs in-mem's workload child once on a mount that logs every
// change it serves, then judges the crash state of every sync boundary
// and random moments under every policy, built in memory from the log:
// the `lazy` scenario (Scenario) of `inmem crash`. Live crashes a child
// running on a mount at random moments and recovers on the same mount.
//
// Everything lives in memory: the mount is for test data, not for big
// files. Symbolic links, device files and extended attributes are not
// served; flock and fcntl locks stay in the kernel.
package lazyfs

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/in-mem/inmem/vfs"
)

var (
	// ErrUnavailable is returned, wrapped in an error that names what is
	// missing, where a mount cannot be made: it needs Linux and FUSE.
	ErrUnavailable = errors.New("lazyfs: FUSE is unavailable here")
	// ErrNotServed is returned by Mount for a backing directory holding
	// something other than files and directories.
	ErrNotServed = errors.New("lazyfs: only files and directories are served")
	// ErrUnmounted is returned by an FS that was unmounted.
	ErrUnmounted = errors.New("lazyfs: unmounted")
	// ErrNotDir is returned by Mount for a backing directory or mount point
	// that is not an existing directory.
	ErrNotDir = errors.New("lazyfs: not an existing directory")
)

// Options configure a mount. The zero value (or nil) is a mount with no
// control socket.
type Options struct {
	// Socket, if set, is the path of a unix socket answering the control
	// protocol (docs/lazyfs.md) while the mount lasts.
	Socket string
	// OnCrash, if set, is called with the report of every crash, whoever
	// asked for it (the API or the socket).
	OnCrash func(Report)

	record bool // log every change (the lazy scenario's explorer)
	ackLog bool // serve the acknowledgement file (see ackFile)
}

// ParsePolicy reads a crash policy: drop, keep, random:SEED, pages:SEED or
// reorder:SEED.
func ParsePolicy(s string) (vfs.CrashPolicy, error) { return vfs.ParseCrashPolicy(s) }

// FS is a mounted lazy filesystem.
type FS struct {
	core       *core
	mountpoint string
	opts       Options
	sys        mounted      // the FUSE server
	ctl        net.Listener // the control socket, if any

	mu   sync.Mutex
	done bool
	err  error
}

// mounted is the FUSE side of a mount.
type mounted interface {
	// forget makes the kernel forget every name and attribute it cached:
	// after a crash the mount shows another tree.
	forget()
	unmount() error
}

// Mountpoint returns where the filesystem is mounted.
func (f *FS) Mountpoint() string { return f.mountpoint }

// Crash simulates a power loss under policy p: the mount shows, and the
// backing directory holds, what survives it.
func (f *FS) Crash(p vfs.CrashPolicy) (Report, error) {
	if err := f.check(); err != nil {
		return Report{}, err
	}
	r, err := f.core.crash(p)
	if err != nil {
		return r, err
	}
	f.sys.forget()
	if f.opts.OnCrash != nil {
		f.opts.OnCrash(r)
	}
	return r, nil
}

// Unsynced reports every change a crash now could lose.
func (f *FS) Unsynced() Report { return f.core.unsynced() }

// Clear empties the cache by writing it through: every file and directory
// is synced, so the next crash loses only what changes after it.
func (f *FS) Clear() error {
	if err := f.check(); err != nil {
		return err
	}
	return f.core.clear()
}

// Stats describe the mount.
func (f *FS) Stats() Stats { return f.core.stats() }

func (f *FS) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return ErrUnmounted
	}
	return nil
}

// Unmount stops serving, closes the control socket and writes everything
// to the backing directory (a clean shutdown). A mount busy with open
// files is detached all the same: no mount is left behind. Later calls
// return the first one's error.
func (f *FS) Unmount() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.err
	}
	f.done = true
	var errs []error
	if f.ctl != nil {
		errs = append(errs, ignoreClosed(f.ctl.Close()))
	}
	errs = append(errs, f.sys.unmount())
	if f.core.backing != "" {
		f.core.mu.Lock()
		err := storeBacking(f.core.mem, f.core.backing)
		f.core.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("lazyfs: writing back to %s: %w", f.core.backing, err))
		}
	}
	f.err = errors.Join(errs...)
	return f.err
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
