package lazyfs

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/vfs"
)

// Report is the unsynced-data report: every change that was not durable
// (a write's range, a truncate, a directory entry created, renamed or
// removed) and, for a crash, what the policy did with it.
type Report struct {
	// Policy is the crash policy (as ParsePolicy reads it); empty for a
	// report of what is unsynced now (FS.Unsynced).
	Policy string `json:"policy,omitempty"`
	// Crash numbers the crashes since the mount, from 1 (0: no crash).
	Crash uint64 `json:"crash,omitempty"`
	// Changes are the unsynced changes, by path (files and directories in
	// name order) and, for one path, in the order they were made.
	Changes []vfs.Fate `json:"changes"`
	// Kept, Dropped and Torn count the changes by fate (Torn: partly
	// kept, torn at sectors or pages, or garbled); a report of what is
	// unsynced counts none.
	Kept    int `json:"kept"`
	Dropped int `json:"dropped"`
	Torn    int `json:"torn"`
}

func newReport(p string, crash uint64, fates []vfs.Fate) Report {
	r := Report{Policy: p, Crash: crash, Changes: fates}
	if r.Changes == nil {
		r.Changes = []vfs.Fate{}
	}
	for _, f := range fates {
		switch f.Outcome {
		case "kept":
			r.Kept++
		case "dropped":
			r.Dropped++
		case "torn", "garbled":
			r.Torn++
		}
	}
	return r
}

// String is the report for people: one line a change.
func (r Report) String() string {
	var b strings.Builder
	switch {
	case r.Policy == "":
		fmt.Fprintf(&b, "%d unsynced changes\n", len(r.Changes))
	default:
		fmt.Fprintf(&b, "crash %d, policy %s: %d unsynced changes, %d kept, %d dropped, %d torn\n", r.Crash, r.Policy,
			len(r.Changes), r.Kept, r.Dropped, r.Torn)
	}
	for _, f := range r.Changes {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Stats describe a mount.
type Stats struct {
	Files int   `json:"files"` // regular files now
	Dirs  int   `json:"dirs"`  // directories now, the root among them
	Bytes int64 `json:"bytes"` // in the files
	// Unsynced counts the changes a crash now could lose; UnsyncedBytes the
	// bytes of the unsynced writes among them.
	Unsynced      int   `json:"unsynced"`
	UnsyncedBytes int64 `json:"unsynced_bytes"`
	// Writes, Syncs (fsync and fdatasync of files) and DirSyncs (of
	// directories) served since the mount; Crashes since the mount.
	Writes   uint64 `json:"writes"`
	Syncs    uint64 `json:"syncs"`
	DirSyncs uint64 `json:"dir_syncs"`
	Crashes  uint64 `json:"crashes"`
}

// crash replaces the filesystem with what a power loss under policy p
// leaves, writes that to the backing directory as the durable state, and
// returns the report. Files open before it are stale after it.
func (c *core) crash(p vfs.CrashPolicy) (Report, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mem, fates := c.mem.CrashFates(p)
	if c.backing != "" {
		if err := storeBacking(mem, c.backing); err != nil {
			return Report{}, fmt.Errorf("lazyfs: writing the crash state to %s: %w", c.backing, err)
		}
	}
	c.mem = mem
	c.gen++
	return newReport(p.Spec(), c.gen, fates), nil
}

func (c *core) unsynced() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return newReport("", 0, c.mem.Unsynced())
}

// clear empties the cache by writing it through: every file and directory
// is synced, so everything written so far is durable and the next crash
// can lose only what comes after.
func (c *core) clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return walkMem(c.mem, "/", func(p string, info fs.FileInfo) error {
		if info.IsDir() {
			c.did(fsrecord.SyncDirOp(p))
			return vfs.SyncDir(c.mem, p)
		}
		f, err := c.mem.OpenAppend(p)
		if err != nil {
			return err
		}
		defer f.Close()
		c.did(fsrecord.SyncOp(p, 0))
		return f.Sync()
	})
}

func (c *core) stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Writes: c.writes.Load(), Syncs: c.syncs.Load(), DirSyncs: c.dirSyncs.Load(), Crashes: c.gen}
	walkMem(c.mem, "/", func(_ string, info fs.FileInfo) error {
		if info.IsDir() {
			s.Dirs++
		} else {
			s.Files++
			s.Bytes += info.Size()
		}
		return nil
	})
	for _, f := range c.mem.Unsynced() {
		s.Unsynced++
		s.UnsyncedBytes += f.Len
	}
	return s
}

// walkMem calls fn for dir and everything below it, parents first.
func walkMem(m *vfs.MemFS, dir string, fn func(p string, info fs.FileInfo) error) error {
	info, err := m.Stat(dir)
	if err != nil {
		return err
	}
	if err := fn(dir, info); err != nil || !info.IsDir() {
		return err
	}
	names, err := m.List(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := walkMem(m, path.Join(dir, n), fn); err != nil {
			return err
		}
	}
	return nil
}
