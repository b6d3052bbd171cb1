package vfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/in-mem/inmem/vfs"
)

// The MemFS additions a filesystem server needs: writes at any offset,
// truncate and stat through a handle, hard links, permissions, inode
// numbers, and the errnos it maps to replies.

// handle is the File of Create and OpenAppend, with its server extras.
type handle interface {
	vfs.File
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

func create(t *testing.T, m *vfs.MemFS, name string) handle {
	t.Helper()
	f, err := m.Create(name)
	must(t, err)
	h, ok := f.(handle)
	if !ok {
		t.Fatalf("the File of Create has no WriteAt, Truncate or Stat: %T", f)
	}
	return h
}

func stat(t *testing.T, m *vfs.MemFS, name string) (fs.FileInfo, *vfs.MemStat) {
	t.Helper()
	info, err := m.Stat(name)
	must(t, err)
	return info, info.Sys().(*vfs.MemStat)
}

func TestMemFS_WriteAtTruncateStat(t *testing.T) {
	m := vfs.NewMemFS()
	h := create(t, m, "f")
	if _, err := h.WriteAt([]byte("world"), 6); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, m, "f"); got != "hello\x00world" {
		t.Fatalf("content %q", got)
	}
	must(t, m.Rename("f", "g"))
	must(t, h.Truncate(5)) // through the handle: the renamed file
	if got := readAll(t, m, "g"); got != "hello" {
		t.Fatalf("after truncate: %q", got)
	}
	info, err := h.Stat()
	if err != nil || info.Size() != 5 {
		t.Fatalf("Stat through the handle: %v, %v", info, err)
	}
	if _, err := h.WriteAt([]byte("x"), -1); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("WriteAt at -1: %v", err)
	}
	r, err := m.Open("g")
	must(t, err)
	if _, err := r.(handle).WriteAt([]byte("x"), 0); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("WriteAt on a read-only file: %v", err)
	}
	must(t, h.Close())
	if _, err := h.Stat(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Stat after Close: %v", err)
	}
}

func TestMemFS_Link(t *testing.T) {
	m := vfs.NewMemFS()
	must(t, m.MkdirAll("a"))
	must(t, m.MkdirAll("b"))
	writeAll(t, m, "a/f", []byte("x"))
	for _, d := range []string{"/", "a", "b"} {
		must(t, vfs.SyncDir(m, d))
	}
	must(t, m.Link("a/f", "b/g"))
	_, sa := stat(t, m, "a/f")
	_, sb := stat(t, m, "b/g")
	if sa.Ino != sb.Ino || sa.Nlink != 2 {
		t.Fatalf("two names of one file: %+v %+v", sa, sb)
	}
	if err := m.Link("a/f", "b/g"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Link over a name: %v", err)
	}
	if err := m.Link("a", "b/dir"); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("Link of a directory: %v", err)
	}
	must(t, m.Rename("a/f", "b/g")) // two names of one file: nothing happens
	must(t, m.Remove("a/f"))
	if _, s := stat(t, m, "b/g"); s.Nlink != 1 {
		t.Fatalf("nlink after a remove: %d", s.Nlink)
	}
	// Neither the link nor the remove was made durable: a crash loses
	// both.
	c := m.Crash(drop)
	if _, err := c.Stat("b/g"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the unsynced link survived: %v", err)
	}
	if _, s := stat(t, c, "a/f"); s.Nlink != 1 || s.Ino == sa.Ino {
		t.Fatalf("after the crash: %+v (inode numbers are never reused)", s)
	}
}

func TestMemFS_ChmodChtimesErrnos(t *testing.T) {
	m := vfs.NewMemFS()
	must(t, m.MkdirAll("d/e"))
	writeAll(t, m, "d/f", nil)
	must(t, m.Chmod("d/f", 0o600))
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, m.Chtimes("d/f", when))
	info, _ := stat(t, m, "d/f")
	if info.Mode() != 0o600 || !info.ModTime().Equal(when) {
		t.Fatalf("mode %v, mtime %v", info.Mode(), info.ModTime())
	}
	if info, _ := stat(t, m.Crash(keep), "d/f"); info.Mode() != 0o600 {
		t.Fatalf("a crash changed the mode: %v", info.Mode())
	}
	if err := m.Chmod("nope", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Chmod of nothing: %v", err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"remove a non-empty directory", m.Remove("d"), syscall.ENOTEMPTY},
		{"open a directory", func() error { _, err := m.Open("d"); return err }(), syscall.EISDIR},
		{"list a file", func() error { _, err := m.List("d/f"); return err }(), syscall.ENOTDIR},
		{"rename over a non-empty directory", func() error { must(t, m.MkdirAll("x")); return m.Rename("x", "d") }(), syscall.ENOTEMPTY},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestCrashPolicy_ParseSpec(t *testing.T) {
	for _, p := range []vfs.CrashPolicy{
		{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}, {Mode: vfs.RandomUnsynced, Seed: 7},
		{Mode: vfs.RandomPages, Seed: 1 << 40}, {Mode: vfs.ReorderUnsynced},
	} {
		got, err := vfs.ParseCrashPolicy(p.Spec())
		if err != nil || got != p {
			t.Errorf("ParseCrashPolicy(%q) = %v, %v", p.Spec(), got, err)
		}
	}
	for _, bad := range []string{"", "sometimes", "drop:1", "random", "pages:x", "reorder:-1"} {
		if _, err := vfs.ParseCrashPolicy(bad); !errors.Is(err, vfs.ErrBadCrashPolicy) {
			t.Errorf("ParseCrashPolicy(%q): %v", bad, err)
		}
	}
}

// unsyncedWrites makes a durable file f and four unsynced writes to it,
// one per page, each of its own byte.
func unsyncedWrites(t *testing.T) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMemFS()
	writeAll(t, m, "f", nil)
	must(t, vfs.SyncDir(m, "/"))
	f, err := m.OpenAppend("f")
	must(t, err)
	for i := range 4 {
		if _, err := f.Write(bytes.Repeat([]byte{'a' + byte(i)}, vfs.PageSize)); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.Close())
	return m
}

// TestCrash_Reorder: a later write is kept while an earlier one is lost:
// the kept writes are a non-empty suffix, never all of them.
func TestCrash_Reorder(t *testing.T) {
	m := unsyncedWrites(t)
	seed := testSeed(t)
	for s := seed; s < seed+50; s++ {
		c, fates := m.CrashFates(vfs.CrashPolicy{Mode: vfs.ReorderUnsynced, Seed: s})
		got := readAll(t, c, "f")
		first := strings.IndexFunc(got, func(r rune) bool { return r != 0 })
		if len(got) != 4*vfs.PageSize || first < vfs.PageSize || first%vfs.PageSize != 0 {
			t.Fatalf("seed %d: not a kept suffix after a lost prefix: first byte at %d of %d", s, first, len(got))
		}
		if len(fates) != 4 || fates[0].Outcome != "dropped" || fates[3].Outcome != "kept" {
			t.Fatalf("seed %d: fates %v", s, fates)
		}
	}
}

// TestCrash_Pages: every page of the result is the page written, zeros, or
// (torn) a mix of the two at sector boundaries; the same seed, the same
// state.
func TestCrash_Pages(t *testing.T) {
	m := unsyncedWrites(t)
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 30 {
		p := vfs.CrashPolicy{Mode: vfs.RandomPages, Seed: rng.Uint64()}
		got := readAll(t, m.Crash(p), "f")
		if again := readAll(t, m.Crash(p), "f"); again != got {
			t.Fatalf("%s: two states from one seed", p)
		}
		for off := 0; off < len(got); off += vfs.SectorSize {
			sector := got[off:min(off+vfs.SectorSize, len(got))]
			want := strings.Repeat(string(rune('a'+off/vfs.PageSize)), len(sector))
			if sector != want && strings.Trim(sector, "\x00") != "" {
				t.Fatalf("%s: the sector at %d holds bytes never written there", p, off)
			}
		}
	}
}

// TestMemFS_Unsynced lists every change a crash could lose, and a sync
// takes it off the list.
func TestMemFS_Unsynced(t *testing.T) {
	m := unsyncedWrites(t)
	must(t, m.MkdirAll("d"))
	must(t, m.Rename("f", "g"))
	var lines []string
	for _, f := range m.Unsynced() {
		lines = append(lines, f.String())
	}
	want := []string{"/: create d: unsynced", "/: rename f -> g: unsynced"}
	for i := range 4 {
		want = append(want, "/g: write of 4096 bytes at "+[]string{"0", "4096", "8192", "12288"}[i]+": unsynced")
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Unsynced:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	must(t, vfs.SyncDir(m, "/"))
	f, err := m.OpenAppend("g")
	must(t, err)
	must(t, f.Sync())
	if u := m.Unsynced(); len(u) != 0 {
		t.Fatalf("after the syncs: %v", u)
	}
}

// TestCrashFates_NameLost: the writes to a file whose name a crash lost
// are reported lost with it.
func TestCrashFates_NameLost(t *testing.T) {
	m := vfs.NewMemFS()
	f, err := m.Create("new")
	must(t, err)
	_, err = f.Write([]byte("never durable"))
	must(t, err)
	_, fates := m.CrashFates(drop)
	var lines []string
	for _, f := range fates {
		lines = append(lines, f.String())
	}
	want := "/: create new: dropped\n/new: write of 13 bytes at 0: dropped, its file's name was lost"
	if got := strings.Join(lines, "\n"); got != want {
		t.Fatalf("fates:\n%s\nwant:\n%s", got, want)
	}
}
