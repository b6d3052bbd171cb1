// Package plant holds classic durability bugs, each as a change to a
// database's options (most wrap its filesystem), for the tests that prove
// the crash harness catches them. The shipped engine never imports it; a
// bug is planted only through the harness's test seams
// (crashtest.Session.Plant in process, proc.ChildOption in a workload
// child).
//
// Bugs inside the engine are planted with test-only build tags instead,
// which the shipped build never sets:
//
//	-tags inmem_plant_close_nosync       the log's Close hands its last writes to the OS without syncing them
//	-tags inmem_plant_snapshot_trustlen  the snapshot reader trusts a block's length and allocates it
//
// scripts/test.sh runs cmd/inmem's TestPlanted_ tests under each.
package plant

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// Bug plants one bug into a database's options. o.FS is never nil when it
// is called.
type Bug func(o *inmem.Options)

// bugs are the bugs by name, as tests and child processes name them.
var bugs = map[string]Bug{
	// nosync: no sync reaches the disk, of files or directories: what was
	// acknowledged lives only in the page cache.
	"nosync": wrap(func(fs vfs.FS) vfs.FS {
		return &files{FS: fs, file: func(f vfs.File) vfs.File { return noSync{f} }, dirs: true}
	}),
	// no-dir-sync-after-create: the first directory sync after each
	// create is skipped: a new segment's entry may never be durable.
	"no-dir-sync-after-create": wrap(func(fs vfs.FS) vfs.FS { return &skipDirSync{FS: fs, created: new(atomic.Bool)} }),
	// swallow-sync-errors: a failed sync reports success.
	"swallow-sync-errors": wrap(func(fs vfs.FS) vfs.FS {
		return &files{FS: fs, file: func(f vfs.File) vfs.File { return swallowSync{f} }}
	}),
	// user-buffer: writes wait in the process until the file is closed, as
	// behind a user-space write buffer that is never flushed before fsync:
	// a sync makes nothing durable, and a process kill loses everything
	// written since the file was opened, acknowledged or not.
	"user-buffer": wrap(func(fs vfs.FS) vfs.FS {
		return &files{FS: fs, file: func(f vfs.File) vfs.File { return &buffered{File: f} }}
	}),
	// recovery-no-sync: a file opened for appending ignores syncs until it
	// is written to: the syncs with which recovery makes the log it
	// replayed durable do nothing, while every commit's sync still works.
	"recovery-no-sync": wrap(func(fs vfs.FS) vfs.FS { return &reopened{FS: fs} }),
	// no-tmp-sync: files whose name ends in .tmp are never synced: a file
	// written under a temporary name (MANIFEST.tmp, a snapshot's .tmp) is
	// renamed into place before its content is durable.
	"no-tmp-sync": wrap(func(fs vfs.FS) vfs.FS { return &tmpNoSync{FS: fs} }),
	// pit-recovery: every open recovers point-in-time: damage anywhere in
	// the log truncates it there instead of being refused.
	"pit-recovery": func(o *inmem.Options) { o.Recovery = inmem.RecoverPointInTime },
}

// Named returns the bug called name.
func Named(name string) (Bug, error) {
	b, ok := bugs[name]
	if !ok {
		return nil, fmt.Errorf("plant: no bug %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names returns every bug's name, sorted.
func Names() []string {
	var ns []string
	for n := range bugs {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func wrap(w func(vfs.FS) vfs.FS) Bug { return func(o *inmem.Options) { o.FS = w(o.FS) } }

// files wraps every file opened for writing (and, with dirs, every
// directory opened for a sync).
type files struct {
	vfs.FS
	file func(vfs.File) vfs.File
	dirs bool
}

func (w *files) Unwrap() vfs.FS { return w.FS }

func (w *files) Create(name string) (vfs.File, error) { return w.wrap(w.FS.Create(name)) }

func (w *files) OpenAppend(name string) (vfs.File, error) { return w.wrap(w.FS.OpenAppend(name)) }

func (w *files) OpenDir(name string) (vfs.File, error) {
	if !w.dirs {
		return w.FS.OpenDir(name)
	}
	return w.wrap(w.FS.OpenDir(name))
}

func (w *files) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return w.file(f), nil
}

type noSync struct{ vfs.File }

func (noSync) Sync() error { return nil }

func (n noSync) WriteAt(p []byte, off int64) (int, error) { return vfs.WriteAt(n.File, p, off) }

type swallowSync struct{ vfs.File }

func (f swallowSync) WriteAt(p []byte, off int64) (int, error) { return vfs.WriteAt(f.File, p, off) }

func (f swallowSync) Sync() error {
	_ = f.File.Sync() // the bug: the error is dropped
	return nil
}

// buffered keeps writes in the process until Close.
type buffered struct {
	vfs.File
	mu  sync.Mutex
	buf []bufferedWrite
}

// bufferedWrite is a write held back: an append, or a write at off.
type bufferedWrite struct {
	data []byte
	off  int64
	at   bool
}

func (b *buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, bufferedWrite{data: slices.Clone(p)})
	return len(p), nil
}

func (b *buffered) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, bufferedWrite{data: slices.Clone(p), off: off, at: true})
	return len(p), nil
}

func (b *buffered) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.buf {
		var err error
		if w.at {
			_, err = vfs.WriteAt(b.File, w.data, w.off)
		} else {
			_, err = b.File.Write(w.data)
		}
		if err != nil {
			return err
		}
	}
	b.buf = nil
	return nil
}

func (b *buffered) Sync() error { return b.File.Sync() } // the bug: the buffer stays in the process

func (b *buffered) Close() error {
	err := b.flush()
	if cerr := b.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// skipDirSync skips the first directory sync after each create.
type skipDirSync struct {
	vfs.FS
	created *atomic.Bool
}

func (s *skipDirSync) Unwrap() vfs.FS { return s.FS }

func (s *skipDirSync) Create(name string) (vfs.File, error) {
	s.created.Store(true)
	return s.FS.Create(name)
}

func (s *skipDirSync) OpenDir(name string) (vfs.File, error) {
	f, err := s.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return skippedDir{File: f, created: s.created}, nil
}

type skippedDir struct {
	vfs.File
	created *atomic.Bool
}

func (d skippedDir) Sync() error {
	if d.created.CompareAndSwap(true, false) {
		return nil
	}
	return d.File.Sync()
}

// tmpNoSync skips the syncs of files named *.tmp.
type tmpNoSync struct{ vfs.FS }

func (t *tmpNoSync) Unwrap() vfs.FS { return t.FS }

func (t *tmpNoSync) Create(name string) (vfs.File, error) { return t.open(name, t.FS.Create) }

func (t *tmpNoSync) OpenAppend(name string) (vfs.File, error) { return t.open(name, t.FS.OpenAppend) }

func (t *tmpNoSync) open(name string, open func(string) (vfs.File, error)) (vfs.File, error) {
	f, err := open(name)
	if err != nil || !strings.HasSuffix(name, ".tmp") {
		return f, err
	}
	return noSync{f}, nil
}

// reopened wraps files opened for appending: their syncs do nothing until
// the first write.
type reopened struct{ vfs.FS }

func (r *reopened) Unwrap() vfs.FS { return r.FS }

func (r *reopened) OpenAppend(name string) (vfs.File, error) {
	f, err := r.FS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return &unwritten{File: f}, nil
}

type unwritten struct {
	vfs.File
	written atomic.Bool
}

func (u *unwritten) Write(p []byte) (int, error) {
	u.written.Store(true)
	return u.File.Write(p)
}

func (u *unwritten) WriteAt(p []byte, off int64) (int, error) {
	u.written.Store(true)
	return vfs.WriteAt(u.File, p, off)
}

func (u *unwritten) Sync() error {
	if !u.written.Load() {
		return nil
	}
	return u.File.Sync()
}
