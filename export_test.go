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
			recs := concurrentWorkload(t, db, seed, 6, 100, func() {
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
			final, err := modelOf(recs, ^inmem.Version(0))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			for _, info := range exports {
				m, err := modelOf(recs, info.Watermark)
				if err != nil {
					t.Fatal(err)
				}
				if m.last != info.Watermark {
					t.Fatalf("export watermark %d is no acknowledged commit", info.Watermark)
				}
				want := withIDs(m.state(), final.state())
				mdb := openImport(t, mem, info.Dir, &inmem.Options{Durability: inmem.InMemory})
				if d := diffStates(want, dump(t, mdb, final.extra()).noTS()); d != "" {
					t.Fatalf("in-memory import of %s (watermark %d) differs:\n%s", info.Dir, info.Watermark, d)
				}
				mdb.Close()
				idb := openImport(t, mem, info.Dir, nil)
				if d := diffStates(want, dump(t, idb, final.extra()).noTS()); d != "" {
					t.Fatalf("import of %s (watermark %d) differs:\n%s", info.Dir, info.Watermark, d)
				}
				v, err := idb.EventAppend(want.Runs[0].ID, []byte("after import"))
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
				if n, _ := rdb.EventCount(want.Runs[0].ID); n != v+1 {
					t.Fatalf("the imported database lost its write: %d events", n)
				}
				rdb.Close()
			}
		})
	}
}

// TestDB_Export_Info checks the files an export lists and that it leaves
// the source database working.
func TestDB_Export_Info(t *testing.T) {
	db, mem := newTestDB(t, nil)
	g := newGen(testSeed(t), "w")
	runGen(t, g, db, 100)
	info, err := db.Export("backup")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MANIFEST", "SNAPSHOTS/snap-000001.chk", "WAL/wal-000001.seg", "EXPORT"}
	if strings.Join(info.Files, ",") != strings.Join(want, ",") || info.SnapshotID != 1 || info.Watermark != g.m.last || info.Dir != "backup" {
		t.Fatalf("ExportInfo %+v, want files %v at watermark %d", info, want, g.m.last)
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
	runGen(t, g, db, 20)
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
		g := newGen(1, "secret")
		runGen(t, g, db, 50)
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
		checkModel(t, idb, g.m, "encrypted import")
		idb.Close()
	}
}

// TestImport_Refusals damages an export the ways an interrupted copy or a
// bad disk would: incomplete exports fail with ErrIncompleteExport, damaged
// ones with a *CorruptionError, and neither is opened.
func TestImport_Refusals(t *testing.T) {
	tcs := []struct {
		name    string
		damage  func(t *testing.T, fsys *vfs.MemFS)
		corrupt bool // else incomplete
	}{
		{"no marker", func(t *testing.T, m *vfs.MemFS) { m.Remove("e/EXPORT") }, false},
		{"missing snapshot", func(t *testing.T, m *vfs.MemFS) { m.Remove("e/SNAPSHOTS/snap-000001.chk") }, false},
		{"missing manifest", func(t *testing.T, m *vfs.MemFS) { m.Remove("e/MANIFEST") }, false},
		{"short snapshot", func(t *testing.T, m *vfs.MemFS) { m.Truncate("e/SNAPSHOTS/snap-000001.chk", 100) }, false},
		{"extra segment", func(t *testing.T, m *vfs.MemFS) {
			writeFile(t, m, "e/WAL/wal-000002.seg", []byte("IMWL"))
		}, false},
		{"flipped snapshot byte", func(t *testing.T, m *vfs.MemFS) { flip(t, m, "e/SNAPSHOTS/snap-000001.chk", 200) }, true},
		{"flipped marker byte", func(t *testing.T, m *vfs.MemFS) { flip(t, m, "e/EXPORT", 20) }, true},
		{"longer segment", func(t *testing.T, m *vfs.MemFS) {
			data, _ := vfs.ReadFile(m, "e/WAL/wal-000001.seg")
			writeFile(t, m, "e/WAL/wal-000001.seg", append(data, 0))
		}, true},
		{"marker only", func(t *testing.T, m *vfs.MemFS) {
			for _, p := range []string{"e/MANIFEST", "e/SNAPSHOTS/snap-000001.chk", "e/WAL/wal-000001.seg"} {
				m.Remove(p)
			}
		}, false},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			db := openMem(t, mem, nil)
			runGen(t, newGen(1, "w"), db, 30)
			if _, err := db.Export("e"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			tc.damage(t, mem)
			before := files(t, mem, "e")
			_, err := inmem.Import("e", &inmem.Options{FS: mem})
			var ce *inmem.CorruptionError
			if tc.corrupt && !errors.As(err, &ce) {
				t.Fatalf("Import = %v, want a *CorruptionError", err)
			}
			if !tc.corrupt && !errors.Is(err, inmem.ErrIncompleteExport) {
				t.Fatalf("Import = %v, want ErrIncompleteExport", err)
			}
			if err := sameFiles(before, files(t, mem, "e")); err != nil {
				t.Fatalf("a refused Import changed the directory: %v", err)
			}
		})
	}
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
	runGen(t, newGen(1, "w"), db, 30)
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
			g := newGen(seed, "w")
			runGen(t, g, db, 80)
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
			want := g.m.state()
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
				got := dump(t, idb, g.m.extra()).noTS()
				idb.Close()
				if d := diffStates(want, got); d != "" {
					t.Fatalf("clone %d (watermark %d) imported differently:\n%s", i, info.Watermark, d)
				}
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
				g := newGen(seed, "w")
				g.valueSize = 50
				runGen(t, g, db, 150)
				db.Checkpoint()
				runGen(t, g, db, 150)
				want := dump(t, db, g.m.extra())
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
				if d := diffStates(want, dump(t, cdb, g.m.extra())); d != "" {
					t.Fatalf("the copy opened differently:\n%s", d)
				}
			})
		}
	}
}
