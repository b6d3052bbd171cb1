package inmem_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// openImport imports dir on fsys, failing the test on error.
func openImport(t testing.TB, fsys vfs.FS, dir string, opts *inmem.Options) *inmem.DB {
	t.Helper()
	o := inmem.Options{}
	if opts != nil {
		o = *opts
	}
	o.FS = fsys
	db, err := inmem.Import(dir, &o)
	if err != nil {
		t.Fatalf("Import %s: %v", dir, err)
	}
	return db
}

// TestDB_Export_WhileWriting exports several times while writers commit,
// then imports each export: it must hold exactly the commits at or below
// its watermark, import into memory the same way, and work as a database.
func TestDB_Export_WhileWriting(t *testing.T) {
	seed := testSeed(t)
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered, inmem.InMemory} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			db := openMem(t, mem, &inmem.Options{Durability: mode, SegmentSize: 16 << 10})
			var mu sync.Mutex
			var exports []inmem.ExportInfo
			m := concurrentWorkload(t, db, seed, 6, 100, func() {
				for i := range 4 {
					info, err := db.Export(fmt.Sprintf("exports/e%d", i))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					exports = append(exports, info)
					mu.Unlock()
				}
			})
			ids := runIDs(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			for _, info := range exports {
				checkImports(t, mem, info, m, ids)
			}
		})
	}
}

// checkImports imports an export taken while writers committed: into memory
// and onto disk, each must hold exactly the commits at or below its
// watermark, and the imported database must work on.
func checkImports(t *testing.T, mem *vfs.MemFS, info inmem.ExportInfo, m *crashtest.ReferenceModel, ids map[string]inmem.RunID) {
	t.Helper()
	what := fmt.Sprintf("import of %s (watermark %d)", info.Dir, info.Watermark)
	mdb := openImport(t, mem, info.Dir, &inmem.Options{Durability: inmem.InMemory})
	checkAt(t, mdb, m, info.Watermark, "in-memory "+what)
	checkRunIDs(t, mdb, ids, "in-memory "+what)
	mdb.Close()
	idb := openImport(t, mem, info.Dir, nil)
	checkAt(t, idb, m, info.Watermark, what)
	checkRunIDs(t, idb, ids, what)
	run := runID(t, idb, "shared")
	v, err := idb.EventAppend(run, []byte("after import"))
	if err != nil {
		t.Fatal(err)
	}
	if err := idb.Close(); err != nil {
		t.Fatal(err)
	}
	rdb, err := inmem.Open(info.Dir, &inmem.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if n, _ := rdb.EventCount(run); n != v+1 {
		t.Fatalf("the imported database lost its write: %d events", n)
	}
}

// TestDB_Export_Info checks the files an export lists and that it leaves
// the source database working.
func TestDB_Export_Info(t *testing.T) {
	db, mem := newTestDB(t, nil)
	w := newWorkload(testSeed(t))
	w.run(t, db, 100)
	info, err := db.Export("backup")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MANIFEST", "SNAPSHOTS/snap-000001.chk", "WAL/wal-000001.seg", "EXPORT"}
	if strings.Join(info.Files, ",") != strings.Join(want, ",") || info.SnapshotID != 1 || info.Watermark != w.m.Latest() || info.Dir != "backup" {
		t.Fatalf("ExportInfo %+v, want files %v at watermark %d", info, want, w.m.Latest())
	}
	got := files(t, mem, "backup")
	if len(got) != len(want) {
		t.Fatalf("export holds %d files, want %d", len(got), len(want))
	}
	var total int64
	for _, b := range got {
		total += int64(len(b))
	}
	if total != info.Bytes {
		t.Fatalf("export holds %d bytes, info says %d", total, info.Bytes)
	}
	w.run(t, db, 20)
}

// TestDB_Export_Refusals checks the directories and states Export refuses.
func TestDB_Export_Refusals(t *testing.T) {
	db, mem := newTestDB(t, nil)
	db.CreateRun("r")
	mem.MkdirAll("full")
	writeFile(t, mem, "full/x", []byte("x"))
	for _, dir := range []string{"", testDir, "full", testDir + "/inside", testDir + "/WAL", "./" + testDir + "/x/../y"} {
		if _, err := db.Export(dir); !errors.Is(err, inmem.ErrInvalid) {
			t.Errorf("Export(%q) = %v, want ErrInvalid", dir, err)
		}
	}
	if names, _ := mem.List(testDir); slices.Contains(names, "inside") || slices.Contains(names, "y") {
		t.Errorf("a refused Export created a directory: %v", names)
	}
	mem.MkdirAll("empty")
	if _, err := db.Export("empty"); err != nil {
		t.Errorf("Export into an existing empty directory: %v", err)
	}
	db2 := openMem(t, vfs.NewMemFS(), nil)
	db2.Close()
	if _, err := db2.Export("x"); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("Export after Close = %v, want ErrClosed", err)
	}
}

// TestDB_Export_Encrypted checks that an encrypted database exports
// encrypted and imports only with its key.
func TestDB_Export_Encrypted(t *testing.T) {
	mem := vfs.NewMemFS()
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.InMemory} {
		opts := &inmem.Options{Durability: mode, EncryptionKey: key(3)}
		db := openMem(t, mem, opts)
		w := newWorkload(1)
		w.tag = "secret/"
		w.run(t, db, 50)
		dir := "export-" + mode.String()
		if _, err := db.Export(dir); err != nil {
			t.Fatal(err)
		}
		db.Close()
		for path, data := range files(t, mem, dir) {
			if strings.Contains(string(data), "secret") {
				t.Fatalf("%s holds plaintext", path)
			}
		}
		if _, err := inmem.Import(dir, &inmem.Options{FS: mem}); !errors.Is(err, inmem.ErrCodecMismatch) {
			t.Fatalf("Import without the key = %v, want ErrCodecMismatch", err)
		}
		if _, err := inmem.Import(dir, &inmem.Options{FS: mem, Durability: inmem.InMemory, EncryptionKey: key(4)}); !errors.Is(err, inmem.ErrCodecMismatch) {
			t.Fatalf("in-memory Import with another key = %v, want ErrCodecMismatch", err)
		}
		idb := openImport(t, mem, dir, &inmem.Options{EncryptionKey: key(3)})
		checkModel(t, idb, w.m, "encrypted import")
		idb.Close()
	}
}

// importDamage is one way to damage export "e", as an interrupted copy or
// a bad disk would.
type importDamage struct {
	name   string
	damage func(t *testing.T, fsys *vfs.MemFS)
}

// runImportRefusals exports a database to "e" for each case, damages it,
// and checks that Import refuses it, with a *CorruptionError if corrupt
// and ErrIncompleteExport if not, changing nothing in the directory.
func runImportRefusals(t *testing.T, corrupt bool, tcs []importDamage) {
	t.Helper()
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			db := openMem(t, mem, nil)
			newWorkload(1).run(t, db, 30)
			if _, err := db.Export("e"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			tc.damage(t, mem)
			before := files(t, mem, "e")
			_, err := inmem.Import("e", &inmem.Options{FS: mem})
			var ce *inmem.CorruptionError
			if corrupt && !errors.As(err, &ce) {
				t.Fatalf("Import = %v, want a *CorruptionError", err)
			}
			if !corrupt && !errors.Is(err, inmem.ErrIncompleteExport) {
				t.Fatalf("Import = %v, want ErrIncompleteExport", err)
			}
			if err := sameFiles(before, files(t, mem, "e")); err != nil {
				t.Fatalf("a refused Import changed the directory: %v", err)
			}
		})
	}
}

// TestImport_RefusesIncomplete: an export missing its marker, its MANIFEST
// or its snapshot, or holding a short snapshot or a segment too many, fails
// with ErrIncompleteExport and is not opened.
func TestImport_RefusesIncomplete(t *testing.T) {
	runImportRefusals(t, false, []importDamage{
		{"no marker", func(t *testing.T, m *vfs.MemFS) { m.Remove("e/EXPORT") }},
		{"missing snapshot", func(t *testing.T, m *vfs.MemFS) { m.Remove("e/SNAPSHOTS/snap-000001.chk") }},
		{"missing manifest", func(t *testing.T, m *vfs.MemFS) { m.Remove("e/MANIFEST") }},
		{"short snapshot", func(t *testing.T, m *vfs.MemFS) { m.Truncate("e/SNAPSHOTS/snap-000001.chk", 100) }},
		{"extra segment", func(t *testing.T, m *vfs.MemFS) {
			writeFile(t, m, "e/WAL/wal-000002.seg", []byte("IMWL"))
		}},
		{"marker only", func(t *testing.T, m *vfs.MemFS) {
			for _, p := range []string{"e/MANIFEST", "e/SNAPSHOTS/snap-000001.chk", "e/WAL/wal-000001.seg"} {
				m.Remove(p)
			}
		}},
	})
}

// TestImport_RefusesCorrupt: an export with a flipped byte in its snapshot
// or marker, or a segment longer than recorded, fails with a
// *CorruptionError and is not opened.
func TestImport_RefusesCorrupt(t *testing.T) {
	runImportRefusals(t, true, []importDamage{
		{"flipped snapshot byte", func(t *testing.T, m *vfs.MemFS) { flip(t, m, "e/SNAPSHOTS/snap-000001.chk", 200) }},
		{"flipped marker byte", func(t *testing.T, m *vfs.MemFS) { flip(t, m, "e/EXPORT", 20) }},
		{"longer segment", func(t *testing.T, m *vfs.MemFS) {
			data, _ := vfs.ReadFile(m, "e/WAL/wal-000001.seg")
			writeFile(t, m, "e/WAL/wal-000001.seg", append(data, 0))
		}},
	})
}

// TestImport_RefusesNonExports: a database directory, and an export already
// imported (its marker gone: it is a database, opened with Open), fail
// with ErrIncompleteExport.
func TestImport_RefusesNonExports(t *testing.T) {
	t.Run("a database is not an export", func(t *testing.T) {
		mem := vfs.NewMemFS()
		openMem(t, mem, nil).Close()
		if _, err := inmem.Import(testDir, &inmem.Options{FS: mem}); !errors.Is(err, inmem.ErrIncompleteExport) {
			t.Fatalf("Import of a database = %v, want ErrIncompleteExport", err)
		}
	})
	t.Run("imported twice", func(t *testing.T) {
		mem := vfs.NewMemFS()
		db := openMem(t, mem, nil)
		db.CreateRun("r")
		db.Export("e")
		db.Close()
		openImport(t, mem, "e", nil).Close()
		if _, err := inmem.Import("e", &inmem.Options{FS: mem}); !errors.Is(err, inmem.ErrIncompleteExport) {
			t.Fatalf("second Import = %v, want ErrIncompleteExport (use Open)", err)
		}
		db, err := inmem.Open("e", &inmem.Options{FS: mem})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	})
}

// TestOpen_Export: opening an export with Open, not Import, checks it as
// Import does and removes its marker, so no stale marker is left to make
// the directory read as a damaged export after the first commit; an
// incomplete export is refused, changing nothing.
func TestOpen_Export(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	newWorkload(1).run(t, db, 30)
	if _, err := db.Export("e"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err := inmem.Open("e", &inmem.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := vfs.Exists(mem, "e/"+inmem.ExportName); ok {
		t.Fatalf("Open left the EXPORT marker")
	}
	if _, err := db.CreateRun("after"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := inmem.Import("e", &inmem.Options{FS: mem}); !errors.Is(err, inmem.ErrIncompleteExport) || errors.Is(err, inmem.ErrCorrupt) {
		t.Fatalf("Import of an opened export = %v, want ErrIncompleteExport (use Open)", err)
	}
	db = openMem(t, mem, nil)
	if _, err := db.Export("f"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	snaps, _ := mem.List("f/SNAPSHOTS")
	if err := mem.Remove("f/SNAPSHOTS/" + snaps[0]); err != nil {
		t.Fatal(err)
	}
	before := files(t, mem, "f")
	if _, err := inmem.Open("f", &inmem.Options{FS: mem}); !errors.Is(err, inmem.ErrIncompleteExport) {
		t.Fatalf("Open of an incomplete export = %v, want ErrIncompleteExport", err)
	}
	if err := sameFiles(before, files(t, mem, "f")); err != nil {
		t.Fatalf("a refused Open changed the export: %v", err)
	}
}

func flip(t *testing.T, m *vfs.MemFS, path string, off int) {
	t.Helper()
	data, err := vfs.ReadFile(m, path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0x08
	writeFile(t, m, path, data)
}

// TestDB_Export_CrashAtEveryStep takes a power-loss clone (dropping and
// keeping unsynced data) before every filesystem operation of an Export:
// each clone's export directory must be refused by Import as incomplete,
// or import to exactly the exported state. The clone after Export returns
// must import.
func TestDB_Export_CrashAtEveryStep(t *testing.T) {
	seed := testSeed(t)
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.InMemory} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			var clones []*vfs.MemFS
			var mu sync.Mutex // NB: the log prepares segments on a goroutine of its own
			var recording atomic.Bool
			inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
				if recording.Load() && op.Kind.IsMutation() {
					mu.Lock()
					clones = append(clones, mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced}), mem.Crash(vfs.CrashPolicy{Mode: vfs.KeepUnsynced}))
					mu.Unlock()
				}
				return nil
			})
			db := openMem(t, errorfs.Wrap(mem, inj), &inmem.Options{Durability: mode})
			w := newWorkload(seed)
			w.run(t, db, 80)
			recording.Store(true)
			info, err := db.Export("e")
			recording.Store(false)
			mu.Lock()
			states := slices.Clone(clones) // the preparer may still record one
			mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			states = append(states, mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced}))
			db.Close()
			var imported int
			for i, c := range states {
				idb, err := inmem.Import("e", &inmem.Options{FS: c})
				if errors.Is(err, inmem.ErrIncompleteExport) {
					if i == len(states)-1 {
						t.Fatalf("the export is incomplete after Export returned: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("clone %d: Import = %v, want success or ErrIncompleteExport", i, err)
				}
				imported++
				checkModel(t, idb, w.m, fmt.Sprintf("clone %d (watermark %d)", i, info.Watermark))
				idb.Close()
			}
			t.Logf("%d crash states, %d imported, the rest refused as incomplete", len(states), imported)
			if imported == 0 || len(states) < 10 {
				t.Fatalf("%d of %d crash states imported", imported, len(states))
			}
		})
	}
}

// copyTree copies every file under src to dst on fsys.
func copyTree(t testing.TB, fsys vfs.FS, src, dst string) {
	t.Helper()
	for path, data := range files(t, fsys, src) {
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if err := fsys.MkdirAll(filepath.Dir(target)); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fsys, target, data)
	}
}

// TestDB_CopyDirectory checks that a plain file copy of a closed database,
// or of an open one right after Checkpoint, opens with the same observable
// state: nothing the state needs lives only in memory.
func TestDB_CopyDirectory(t *testing.T) {
	seed := testSeed(t)
	for _, fsName := range []string{"memfs", "os"} {
		for _, when := range []string{"closed", "after checkpoint"} {
			t.Run(fsName+"/"+when, func(t *testing.T) {
				var fsys vfs.FS = vfs.NewMemFS()
				root := "."
				if fsName == "os" {
					fsys, root = vfs.OS, t.TempDir()
				}
				src, dst := filepath.Join(root, "src"), filepath.Join(root, "copy")
				opts := &inmem.Options{FS: fsys, Durability: inmem.Buffered, SegmentSize: 8 << 10}
				db, err := inmem.Open(src, opts)
				if err != nil {
					t.Fatal(err)
				}
				w := newWorkload(seed)
				w.valueSize = 50
				w.run(t, db, 150)
				db.Checkpoint()
				w.run(t, db, 150)
				want := capture(t, db, w.m)
				if when == "closed" {
					db.Close()
				} else {
					if _, err := db.Checkpoint(); err != nil {
						t.Fatal(err)
					}
					defer db.Close()
				}
				copyTree(t, fsys, src, dst)
				cdb, err := inmem.Open(dst, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer cdb.Close()
				checkSame(t, want, capture(t, cdb, w.m), "the copy opened differently")
			})
		}
	}
}
