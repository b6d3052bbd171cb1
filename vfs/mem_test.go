package vfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/in-mem/inmem/internal/testutil"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/in-mem/inmem/vfs"
)

func testSeed(t *testing.T) uint64 { return testutil.Seed(t, "./vfs") }

// dump describes every directory and file of fsys, with contents, sorted.
func dump(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	var lines []string
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		must(t, err)
		for _, n := range names {
			p := path.Join(dir, n)
			info, err := fsys.Stat(p)
			must(t, err)
			if info.IsDir() {
				lines = append(lines, p+"/")
				walk(p)
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %q", p, readAll(t, fsys, p)))
		}
	}
	walk("/")
	return strings.Join(lines, "\n")
}

func TestMemFS_Paths(t *testing.T) {
	m := vfs.NewMemFS()
	must(t, m.MkdirAll("a/b"))
	writeAll(t, m, "/a/b/f", []byte("x"))
	for _, p := range []string{"a/b/f", "/a/b/f", "a//b/./f", "a/c/../b/f"} {
		if got := readAll(t, m, p); got != "x" {
			t.Fatalf("%s: %q", p, got)
		}
	}
	if _, err := m.Create("/"); err == nil {
		t.Fatalf("Create of the root succeeded")
	}
	if info, err := m.Stat("/"); err != nil || !info.IsDir() || info.Name() != "/" {
		t.Fatalf("Stat(/) = %v, %v", info, err)
	}
}

func TestMemFS_ReadAtErrors(t *testing.T) {
	m := vfs.NewMemFS()
	writeAll(t, m, "f", []byte("abc"))
	f, err := m.Open("f")
	must(t, err)
	if _, err := f.ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatalf("ReadAt(-1) succeeded")
	}
	must(t, f.Close())
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadAt after Close = %v", err)
	}
	if err := f.Sync(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Sync after Close = %v", err)
	}
	d, err := m.OpenDir("/")
	must(t, err)
	if _, err := d.Write([]byte("x")); err == nil {
		t.Fatalf("Write to a directory succeeded")
	}
	if _, err := d.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatalf("ReadAt of a directory succeeded")
	}
	if _, err := m.OpenDir("f"); err == nil {
		t.Fatalf("OpenDir of a file succeeded")
	}
	if _, err := m.Open("/"); err == nil {
		t.Fatalf("Open of a directory succeeded")
	}
	if err := m.Truncate("f", -1); err == nil {
		t.Fatalf("Truncate(-1) succeeded")
	}
	must(t, m.MkdirAll("dir"))
	if err := m.Rename("f", "dir"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Rename of a file over a directory = %v", err)
	}
	must(t, m.Rename("f", "f")) // a no-op
	if got := readAll(t, m, "f"); got != "abc" {
		t.Fatalf("after Rename onto itself: %q", got)
	}
}

// TestMemFS_Syncs counts successful syncs of files and directories.
func TestMemFS_Syncs(t *testing.T) {
	m := vfs.NewMemFS()
	writeAll(t, m, "a", []byte("1")) // one file sync
	must(t, vfs.SyncDir(m, "/"))
	if m.Syncs() != 2 {
		t.Fatalf("Syncs = %d, want 2", m.Syncs())
	}
	if m.UnsyncedOps() != 0 {
		t.Fatalf("UnsyncedOps = %d after syncing everything", m.UnsyncedOps())
	}
	f, err := m.OpenAppend("a")
	must(t, err)
	f.Write([]byte("2"))
	f.Write([]byte("3"))
	must(t, m.Truncate("a", 2))
	if m.UnsyncedOps() != 3 {
		t.Fatalf("UnsyncedOps = %d, want 3 (two writes, a truncate)", m.UnsyncedOps())
	}
	must(t, f.Close())
}

func TestCrashMode_Parse(t *testing.T) {
	for _, m := range []vfs.CrashMode{vfs.DropUnsynced, vfs.KeepUnsynced, vfs.RandomUnsynced} {
		got, err := vfs.ParseCrashMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Fatalf("ParseCrashMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := vfs.ParseCrashMode("sometimes"); err == nil {
		t.Fatalf("ParseCrashMode accepted junk")
	}
	if s := vfs.CrashMode(9).String(); s != "CrashMode(9)" {
		t.Fatalf("String = %q", s)
	}
	if s := (vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: 7}).String(); s != "random(seed=7)" {
		t.Fatalf("policy String = %q", s)
	}
	if s := (vfs.CrashPolicy{Mode: vfs.DropUnsynced, Seed: 7}).String(); s != "drop" {
		t.Fatalf("policy String = %q", s)
	}
}

// durableBase makes a MemFS with a durable directory db holding a durable
// file f ("synced").
func durableBase(t *testing.T) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMemFS()
	must(t, m.MkdirAll("db"))
	must(t, vfs.SyncDir(m, "/"))
	writeAll(t, m, "db/f", []byte("synced"))
	must(t, vfs.SyncDir(m, "db"))
	return m
}

var drop = vfs.CrashPolicy{Mode: vfs.DropUnsynced}
var keep = vfs.CrashPolicy{Mode: vfs.KeepUnsynced}

// baseDump is the dump of durableBase: what a DropUnsynced crash leaves
// when nothing after it was made durable.
const baseDump = "/db/\n/db/f \"synced\""

// dropCase is a change to durableBase and the dump a DropUnsynced crash
// leaves after it.
type dropCase struct {
	name string
	do   func(t *testing.T, m *vfs.MemFS)
	want string // the dump after a DropUnsynced crash
}

// runDropCases applies each case to a fresh durableBase and checks the
// DropUnsynced crash: its dump, that the original is unchanged, that the
// crashed FS is all durable (a second crash keeps it), and that
// KeepUnsynced keeps everything.
func runDropCases(t *testing.T, tcs []dropCase) {
	t.Helper()
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			m := durableBase(t)
			tc.do(t, m)
			before := dump(t, m)
			c := m.Crash(drop)
			if got := dump(t, c); got != tc.want {
				t.Fatalf("after the crash:\n%s\nwant:\n%s", got, tc.want)
			}
			if after := dump(t, m); after != before {
				t.Fatalf("Crash changed the original:\n%s\nwas:\n%s", after, before)
			}
			if c.UnsyncedOps() != 0 {
				t.Fatalf("the crashed FS has %d unsynced operations", c.UnsyncedOps())
			}
			// Everything in the crashed FS is durable: a second crash keeps it.
			if again := dump(t, c.Crash(drop)); again != tc.want {
				t.Fatalf("a second crash changed the state:\n%s", again)
			}
			// KeepUnsynced keeps everything, like a process crash.
			if k := dump(t, m.Crash(keep)); k != before {
				t.Fatalf("KeepUnsynced:\n%s\nwant:\n%s", k, before)
			}
		})
	}
}

// TestCrash_DropFileContent: of a file's content only what was synced
// survives: unsynced appends, truncates and a Create over it are undone.
func TestCrash_DropFileContent(t *testing.T) {
	runDropCases(t, []dropCase{
		{"nothing unsynced", func(*testing.T, *vfs.MemFS) {}, baseDump},
		{"unsynced append dropped", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.OpenAppend("db/f")
			f.Write([]byte("+more"))
			f.Close()
		}, baseDump},
		{"synced append kept", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.OpenAppend("db/f")
			f.Write([]byte("+more"))
			must(t, f.Sync())
			f.Close()
		}, "/db/\n/db/f \"synced+more\""},
		{"unsynced truncate undone", func(t *testing.T, m *vfs.MemFS) {
			must(t, m.Truncate("db/f", 2))
		}, baseDump},
		{"Create over a synced file, unsynced", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("db/f")
			f.Write([]byte("replaced"))
			f.Close()
		}, baseDump},
	})
}

// TestCrash_DropNewFiles: a new file survives only if its directory was
// synced, and then with only its synced content.
func TestCrash_DropNewFiles(t *testing.T) {
	runDropCases(t, []dropCase{
		{"created and synced file, directory not synced", func(t *testing.T, m *vfs.MemFS) {
			writeAll(t, m, "db/g", []byte("new"))
		}, baseDump},
		{"created file, directory synced, file not", func(t *testing.T, m *vfs.MemFS) {
			f, _ := m.Create("db/g")
			f.Write([]byte("new"))
			f.Close()
			must(t, vfs.SyncDir(m, "db"))
		}, baseDump + "\n/db/g \"\""},
		{"created file, both synced", func(t *testing.T, m *vfs.MemFS) {
			writeAll(t, m, "db/g", []byte("new"))
			must(t, vfs.SyncDir(m, "db"))
		}, baseDump + "\n/db/g \"new\""},
	})
}

// TestCrash_DropRenameRemove: a rename or a remove survives only if the
// directory was synced after it.
func TestCrash_DropRenameRemove(t *testing.T) {
	runDropCases(t, []dropCase{
		{"rename without directory sync undone", func(t *testing.T, m *vfs.MemFS) {
			writeAll(t, m, "db/tmp", []byte("next"))
			must(t, vfs.SyncDir(m, "db"))
			must(t, m.Rename("db/tmp", "db/f"))
		}, baseDump + "\n/db/tmp \"next\""},
		{"rename with directory sync", func(t *testing.T, m *vfs.MemFS) {
			writeAll(t, m, "db/tmp", []byte("next"))
			must(t, m.Rename("db/tmp", "db/f"))
			must(t, vfs.SyncDir(m, "db"))
		}, "/db/\n/db/f \"next\""},
		{"remove without directory sync undone", func(t *testing.T, m *vfs.MemFS) {
			must(t, m.Remove("db/f"))
		}, baseDump},
		{"remove with directory sync", func(t *testing.T, m *vfs.MemFS) {
			must(t, m.Remove("db/f"))
			must(t, vfs.SyncDir(m, "db"))
		}, "/db/"},
	})
}

// TestCrash_DropDirectories: a new directory survives only if its parent
// was synced after it was made, so nested ones need syncs top down.
func TestCrash_DropDirectories(t *testing.T) {
	runDropCases(t, []dropCase{
		{"new directory whose parent was not synced", func(t *testing.T, m *vfs.MemFS) {
			must(t, m.MkdirAll("db/sub/deeper"))
			must(t, vfs.SyncDir(m, "db/sub"))
		}, baseDump},
		{"new directories synced top down", func(t *testing.T, m *vfs.MemFS) {
			must(t, m.MkdirAll("db/sub/deeper"))
			must(t, vfs.SyncDir(m, "db"))
			must(t, vfs.SyncDir(m, "db/sub"))
		}, baseDump + "\n/db/sub/\n/db/sub/deeper/"},
	})
}

// TestCrash_Independent: the crashed FS and the original share nothing,
// and locks do not carry over.
func TestCrash_Independent(t *testing.T) {
	m := durableBase(t)
	lock, err := m.Lock("db/LOCK")
	must(t, err)
	defer lock.Close()
	c := m.Crash(keep)
	l2, err := c.Lock("db/LOCK")
	if err != nil {
		t.Fatalf("lock carried over the crash: %v", err)
	}
	l2.Close()
	f, err := c.OpenAppend("db/f")
	must(t, err)
	f.Write([]byte("+crashed"))
	f.Close()
	must(t, c.Remove("db/LOCK"))
	if got := readAll(t, m, "db/f"); got != "synced" {
		t.Fatalf("writing the crashed FS changed the original: %q", got)
	}
	if ok, _ := vfs.Exists(m, "db/LOCK"); !ok {
		t.Fatalf("removing from the crashed FS changed the original")
	}
	if _, err := m.Lock("db/LOCK"); !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("the original lost its lock: %v", err)
	}
}

// unsyncedWrite is the setup of the random-policy tests: a synced 100-byte
// prefix, then one unsynced 4000-byte write spanning sectors 0..7 (the
// prefix shares sector 0).
func unsyncedWrite(t *testing.T) (*vfs.MemFS, []byte) {
	t.Helper()
	m := durableBase(t)
	prefix := bytes.Repeat([]byte{'p'}, 100)
	writeAll(t, m, "db/seg", prefix)
	must(t, vfs.SyncDir(m, "db"))
	data := make([]byte, 4000)
	for i := range data {
		data[i] = byte('a' + i/vfs.SectorSize) // each sector its own letter, never zero
	}
	f, err := m.OpenAppend("db/seg")
	must(t, err)
	_, err = f.Write(data)
	must(t, err)
	must(t, f.Close())
	return m, append(prefix, data...)
}

// TestCrash_RandomSectors: a random crash keeps the synced content and, of
// the unsynced write, whole 512-byte sectors or zeros where a lost sector
// was followed by a kept one or the size reached the disk, or the whole
// write with other bytes in its last sector; it is
// deterministic by seed, and over seeds reaches every shape.
func TestCrash_RandomSectors(t *testing.T) {
	seed := testSeed(t)
	m, full := unsyncedWrite(t)
	shapes := map[string]int{}
	for i := range uint64(300) {
		p := vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + i}
		c := m.Crash(p)
		got := []byte(readAll(t, c, "db/seg"))
		if again := readAll(t, m.Crash(p), "db/seg"); again != string(got) {
			t.Fatalf("%v is not deterministic", p)
		}
		for _, shape := range checkSectors(t, p, got, full) {
			shapes[shape]++
		}
		if readAll(t, c, "db/f") != "synced" {
			t.Fatalf("%v: the synced file changed", p)
		}
	}
	t.Logf("shapes over 300 seeds: %v", shapes)
	for _, s := range []string{"dropped", "whole", "torn", "hole", "size only", "garbled"} {
		if shapes[s] == 0 {
			t.Errorf("no seed produced a %s write: %v", s, shapes)
		}
	}
}

// checkSectors checks one crashed file against the full write and names
// its shapes.
func checkSectors(t *testing.T, p vfs.CrashPolicy, got, full []byte) []string {
	t.Helper()
	const synced = 100
	if len(got) < synced || len(got) > len(full) || !bytes.Equal(got[:synced], full[:synced]) {
		t.Fatalf("%v: %d bytes, synced prefix lost or file grew: %q", p, len(got), got)
	}
	if last := (len(full) - 1) / vfs.SectorSize * vfs.SectorSize; len(got) == len(full) && bytes.Equal(got[:last], full[:last]) &&
		!bytes.Equal(got[last:], full[last:]) {
		return []string{"garbled"} // whole, with other bytes in its last sector
	}
	kept, zeroed, hole := 0, 0, false
	for start := 0; start < len(got); start = (start/vfs.SectorSize + 1) * vfs.SectorSize {
		from := max(start, synced)
		end := min((start/vfs.SectorSize+1)*vfs.SectorSize, len(got))
		if from >= end {
			continue
		}
		seg := got[from:end]
		switch {
		case bytes.Equal(seg, full[from:end]):
			kept++
			if zeroed > 0 {
				hole = true
			}
		case bytes.Count(seg, []byte{0}) == len(seg):
			zeroed++
		default:
			t.Fatalf("%v: sector at %d torn inside: %q", p, start, seg)
		}
	}
	switch {
	case len(got) == synced:
		return []string{"dropped"}
	case bytes.Equal(got, full):
		return []string{"whole"}
	case hole:
		return []string{"torn", "hole"}
	case kept > 0:
		return []string{"torn"}
	}
	return []string{"size only"}
}

// TestCrash_RandomDirOps: directory changes survive a random crash
// independently, each whole, deterministic by seed; over seeds each change
// is both kept and dropped.
func TestCrash_RandomDirOps(t *testing.T) {
	seed := testSeed(t)
	m := durableBase(t)
	writeAll(t, m, "db/a", []byte("a"))
	writeAll(t, m, "db/tmp", []byte("next"))
	must(t, m.Rename("db/tmp", "db/f"))
	must(t, m.Remove("db/a"))
	seen := map[string]int{}
	for i := range uint64(200) {
		p := vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + i}
		d := dump(t, m.Crash(p))
		if d != dump(t, m.Crash(p)) {
			t.Fatalf("%v is not deterministic", p)
		}
		// f is the old or the new file, never missing or mixed; tmp exists
		// only if the rename was lost.
		f := readAll(t, m.Crash(p), "db/f")
		tmpExists := strings.Contains(d, "/db/tmp ")
		switch {
		case f == "synced" && !tmpExists:
			seen["created tmp lost"]++
		case f == "synced" && tmpExists:
			seen["rename lost"]++
		case f == "next" && !tmpExists:
			seen["rename kept"]++
		default:
			t.Fatalf("%v: f=%q with tmp=%v:\n%s", p, f, tmpExists, d)
		}
		if strings.Contains(d, "/db/a ") {
			seen["a present"]++
		} else {
			seen["a absent"]++
		}
	}
	t.Logf("outcomes over 200 seeds: %v", seen)
	for _, k := range []string{"created tmp lost", "rename lost", "rename kept", "a present", "a absent"} {
		if seen[k] == 0 {
			t.Errorf("no seed gave %q: %v", k, seen)
		}
	}
}

// TestCrash_DirOpsInOrder: under every seeded policy a directory's
// unsynced changes survive as a prefix, in the order they were made (a
// later create never without an earlier one), and every prefix occurs.
func TestCrash_DirOpsInOrder(t *testing.T) {
	seed := testSeed(t)
	m := durableBase(t)
	for _, name := range []string{"db/1", "db/2", "db/3"} {
		f, err := m.Create(name)
		must(t, err)
		must(t, f.Close())
	}
	for _, mode := range []vfs.CrashMode{vfs.RandomUnsynced, vfs.RandomPages, vfs.ReorderUnsynced} {
		seen := map[string]int{}
		for i := range uint64(100) {
			p := vfs.CrashPolicy{Mode: mode, Seed: seed + i}
			d := dump(t, m.Crash(p))
			got := ""
			for _, n := range []string{"1", "2", "3"} {
				if strings.Contains(d, "/db/"+n+" ") {
					got += n
				}
			}
			if !strings.HasPrefix("123", got) {
				t.Fatalf("%v kept %q of the creates 1, 2, 3: a later one without an earlier one", p, got)
			}
			seen[got]++
		}
		if len(seen) != 4 {
			t.Errorf("%v: not every prefix of the creates occurred: %v", mode, seen)
		}
	}
}

// TestMemFS_Kill: a process crash keeps every write and directory change,
// and what was not synced stays unsynced: a power loss after it still loses
// it, while what was synced before survives both.
func TestMemFS_Kill(t *testing.T) {
	m, full := unsyncedWrite(t)
	writeAll(t, m, "db/new", []byte("created, its directory never synced"))
	k := m.Kill()
	if got := readAll(t, k, "db/seg"); got != string(full) {
		t.Fatalf("the kill lost a write: %d bytes", len(got))
	}
	if ok, err := vfs.Exists(k, "db/new"); err != nil || !ok {
		t.Fatalf("the kill lost a create: %v %v", ok, err)
	}
	if k.UnsyncedOps() != m.UnsyncedOps() || k.UnsyncedOps() == 0 {
		t.Fatalf("unsynced ops: %d after the kill, %d before", k.UnsyncedOps(), m.UnsyncedOps())
	}
	p := k.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	if got := readAll(t, p, "db/seg"); got != string(full[:100]) {
		t.Fatalf("a power loss after the kill kept %d bytes, want the 100 synced", len(got))
	}
	if ok, _ := vfs.Exists(p, "db/new"); ok {
		t.Fatal("a power loss after the kill kept a create whose directory was never synced")
	}
	writeAll(t, k, "db/seg2", []byte("x"))
	if ok, _ := vfs.Exists(m, "db/seg2"); ok {
		t.Fatal("the killed copy shares state with the original")
	}
}
