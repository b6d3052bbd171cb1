package inmem_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// TestDB_ReadOnly: a read-only open of a crashed database, on a filesystem
// that refuses every write as a read-only mount does, recovers into memory:
// it serves what a writable open would, reports the torn tail without
// cutting it, refuses every write with ErrReadOnly, and leaves every byte
// and directory entry as it was.
func TestDB_ReadOnly(t *testing.T) {
	seed := testSeed(t)
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(d.String(), func(t *testing.T) {
			mem, w := crashedLog(t, seed, 200)
			nums := segments(t, mem)
			path := segPath(nums[len(nums)-1])
			data, _ := vfs.ReadFile(mem, path)
			rs := walRecords(t, data)
			truncate(t, mem, path, rs[len(rs)-1].off+5) // a torn tail
			before := files(t, mem, testDir)

			ro := errorfs.Wrap(mem, errorfs.ReadOnly)
			db, err := inmem.Open(testDir, &inmem.Options{FS: ro, ReadOnly: true, Durability: d, SegmentSize: 8 << 10})
			if err != nil {
				t.Fatalf("read-only Open: %v", err)
			}
			checkAt(t, db, w.m, w.m.Latest()-1, "read-only")
			if rep := db.Recovery(); rep.TornSegment != path || rep.TornOffset != rs[len(rs)-1].off || rep.TornBytes != 5 {
				t.Errorf("recovery report %+v, want the torn tail of %s at %d", rep, path, rs[len(rs)-1].off)
			}
			checkReadOnlyWrites(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := sameFiles(before, files(t, mem, testDir)); err != nil {
				t.Fatalf("a read-only open changed the disk: %v", err)
			}
		})
	}
}

func checkReadOnlyWrites(t *testing.T, db *inmem.DB) {
	t.Helper()
	runs, err := db.ListRuns()
	if err != nil || len(runs) == 0 {
		t.Fatalf("ListRuns = %v, %v", runs, err)
	}
	id := runs[0].ID
	writes := map[string]error{
		"CreateRun": second(db.CreateRun("new")),
		"KVPut":     second(db.KVPut(id, "k", []byte("v"))),
		"Update":    db.Update(func(tx *inmem.Tx) error { return nil }),
		"Flush":     db.Flush(),
		"Checkpoint": func() error {
			_, err := db.Checkpoint()
			return err
		}(),
		"Compact": second(db.Compact(inmem.CompactWALOnly)),
		"Export":  second(db.Export("elsewhere")),
	}
	for name, err := range writes {
		if !errors.Is(err, inmem.ErrReadOnly) {
			t.Errorf("%s on a read-only database = %v, want ErrReadOnly", name, err)
		}
	}
}

// TestDB_ReadOnly_Locks: read-only handles share a directory with each
// other, never with a writer, and one leaves no LOCK file where there was
// none.
func TestDB_ReadOnly_Locks(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	ro := &inmem.Options{FS: mem, ReadOnly: true}
	if _, err := inmem.Open(testDir, ro); !errors.Is(err, inmem.ErrLocked) {
		t.Fatalf("read-only Open beside a writer = %v, want ErrLocked", err)
	}
	db.Close()
	r1, err := inmem.Open(testDir, ro)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := inmem.Open(testDir, ro)
	if err != nil {
		t.Fatalf("a second read-only Open = %v", err)
	}
	if _, err := inmem.Open(testDir, &inmem.Options{FS: mem}); !errors.Is(err, inmem.ErrLocked) {
		t.Fatalf("a writer beside read-only handles = %v, want ErrLocked", err)
	}
	r1.Close()
	r2.Close()
	if err := mem.Remove(filepath.Join(testDir, inmem.LockName)); err != nil {
		t.Fatal(err)
	}
	r3, err := inmem.Open(testDir, ro)
	if err != nil {
		t.Fatalf("read-only Open without a LOCK file = %v", err)
	}
	r3.Close()
	if ok, _ := vfs.Exists(mem, filepath.Join(testDir, inmem.LockName)); ok {
		t.Fatalf("a read-only Open created the LOCK file")
	}
}

// TestDB_NotDatabase: a directory that does not exist, is empty, or holds
// a creation cut short is not a database: read-only opens, MustExist,
// Verify and Inspect all say so (ErrNotDatabase, also fs.ErrNotExist) and
// change nothing; a writable Open creates the database there (finishing
// the cut-short creation). A lost MANIFEST beside log records is
// corruption for all of them.
func TestDB_NotDatabase(t *testing.T) {
	cutShort := func(t *testing.T, mem *vfs.MemFS) {
		db := openMem(t, mem, nil)
		db.Close()
		if err := mem.Remove(filepath.Join(testDir, "MANIFEST")); err != nil {
			t.Fatal(err)
		}
	}
	lostManifest := func(t *testing.T, mem *vfs.MemFS) {
		cutShort(t, mem)
		seg := filepath.Join(testDir, wal.DirName, wal.SegmentName(1))
		f, err := mem.OpenAppend(seg)
		if err != nil {
			t.Fatal(err)
		}
		vfs.WriteAt(f, wal.AppendRecord(nil, 1, 1, 1, wal.HeaderSize, []byte("x")), wal.HeaderSize)
		f.Close()
	}
	tcs := []struct {
		name    string
		setup   func(*testing.T, *vfs.MemFS)
		corrupt bool
		detail  string
	}{
		{"missing", func(*testing.T, *vfs.MemFS) {}, false, ""},
		{"empty", func(t *testing.T, mem *vfs.MemFS) { mem.MkdirAll(testDir) }, false, ""},
		{"creation cut short", cutShort, false, "creation was cut short"},
		{"lost MANIFEST", lostManifest, true, ""},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			tc.setup(t, mem)
			before := files(t, mem, "/")
			errs := map[string]error{
				"read-only Open": second(inmem.Open(testDir, &inmem.Options{FS: mem, ReadOnly: true})),
				"MustExist":      second(inmem.Open(testDir, &inmem.Options{FS: mem, MustExist: true})),
				"Verify":         second(inmem.Verify(testDir, &inmem.Options{FS: mem})),
				"Inspect":        inspectErr(inmem.Inspect(testDir, &inmem.Options{FS: mem})),
			}
			for what, err := range errs {
				checkNotDatabase(t, what, err, tc.corrupt, tc.detail)
			}
			if err := sameFiles(before, files(t, mem, "/")); err != nil {
				t.Fatalf("changed the disk: %v", err)
			}
			db, err := inmem.Open(testDir, &inmem.Options{FS: mem})
			if tc.corrupt {
				checkNotDatabase(t, "Open", err, true, "")
				return
			}
			if err != nil || !db.Recovery().Created {
				t.Fatalf("writable Open = %v (report %+v), want a new database", err, db.Recovery())
			}
			db.Close()
		})
	}
}

// inspectErr returns Inspect's error, or the corruption it reported.
func inspectErr(r *inmem.InspectReport, err error) error {
	if err == nil && r.Corruption != nil {
		return r.Corruption
	}
	return err
}

func checkNotDatabase(t *testing.T, what string, err error, corrupt bool, detail string) {
	t.Helper()
	if corrupt {
		if !errors.Is(err, inmem.ErrCorrupt) || !strings.Contains(err.Error(), "MANIFEST is missing") {
			t.Errorf("%s = %v, want corruption: MANIFEST is missing", what, err)
		}
		return
	}
	if !errors.Is(err, inmem.ErrNotDatabase) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), detail) {
		t.Errorf("%s = %v, want ErrNotDatabase (%q)", what, err, detail)
	}
}

func TestOptions_ReadOnlyInvalid(t *testing.T) {
	for name, o := range map[string]inmem.Options{
		"InMemory":           {ReadOnly: true, Durability: inmem.InMemory},
		"RecoverPointInTime": {ReadOnly: true, Recovery: inmem.RecoverPointInTime},
	} {
		mem := vfs.NewMemFS()
		o.FS = mem
		if _, err := inmem.Open(testDir, &o); !errors.Is(err, inmem.ErrInvalid) {
			t.Errorf("ReadOnly with %s = %v, want ErrInvalid", name, err)
		}
		if names, _ := mem.List("/"); len(names) != 0 {
			t.Errorf("ReadOnly with %s created %v", name, names)
		}
	}
}
