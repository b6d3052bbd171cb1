package inmem_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

// TestDB_Checkpoint_SameAsLogOnly runs one seeded workload twice, once with
// checkpoints (and a compaction) in the middle and once without, and checks
// both recover to the same state, the model's.
func TestDB_Checkpoint_SameAsLogOnly(t *testing.T) {
	seed := testSeed(t)
	opts := &inmem.Options{SegmentSize: 8 << 10}
	var histories []string
	var reports []inmem.RecoveryReport
	for _, withCheckpoint := range []bool{false, true} {
		mem := vfs.NewMemFS()
		db := openMem(t, mem, opts)
		w := newWorkload(seed)
		w.valueSize, w.retention = 50, true
		w.run(t, db, 200)
		if withCheckpoint {
			if _, err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		w.run(t, db, 200)
		if withCheckpoint {
			if _, err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
				t.Fatal(err)
			}
		}
		w.run(t, db, 100)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openMem(t, mem, opts)
		checkModel(t, db, w.m, fmt.Sprintf("checkpoint %v", withCheckpoint))
		histories = append(histories, fmt.Sprint(w.m.Ops()))
		reports = append(reports, db.Recovery())
		db.Close()
	}
	// Each database holds exactly its model's state, and the two models are
	// one history: the two states are the same.
	if histories[0] != histories[1] {
		t.Fatalf("the workload went differently with checkpoints:\n%s\n%s", histories[0], histories[1])
	}
	if reports[1].SnapshotID != 2 || reports[1].Records >= reports[0].Records || reports[1].Watermark == 0 {
		t.Fatalf("recovery with checkpoints %+v should start from snapshot 2 and replay fewer records than %d", reports[1], reports[0].Records)
	}
}

// TestDB_Checkpoint_Info checks what Checkpoint reports against the model.
func TestDB_Checkpoint_Info(t *testing.T) {
	db, mem := newTestDB(t, nil)
	w := newWorkload(testSeed(t))
	w.run(t, db, 300)
	for i := range 3 {
		ck, err := db.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if ck.SnapshotID != uint64(i+1) || ck.Watermark != db.LastVersion() || ck.Watermark != w.m.Latest() {
			t.Fatalf("checkpoint %d: %+v, want snapshot %d at watermark %d", i, ck, i+1, w.m.Latest())
		}
		if size := fileSize(t, mem, ck.File); size != ck.Bytes || filepath.Dir(ck.File) != filepath.Join(testDir, "SNAPSHOTS") {
			t.Fatalf("checkpoint file %s is %d bytes, info says %d", ck.File, size, ck.Bytes)
		}
		checkModel(t, db, w.m, "at the checkpoint") // so the database's contents are the model's
		c := contentsOf(db, w.m)
		if ck.Runs != c.runs || ck.Keys != c.keys || ck.Versions != c.versions || ck.Events != c.events || ck.Cells != c.cells {
			t.Fatalf("checkpoint counts %+v, want %+v", ck, c)
		}
		if ck.Logical != c.logical {
			t.Fatalf("checkpoint logical bytes %d, want %d", ck.Logical, c.logical)
		}
		w.run(t, db, 50)
	}
}

// contents is what a checkpoint counts.
type contents struct{ runs, keys, versions, events, cells, logical uint64 }

// contentsOf counts db's contents: every run, key (deleted ones too, which
// m names), version, event and cell, and their bytes.
func contentsOf(db *inmem.DB, m *crashtest.ReferenceModel) contents {
	var c contents
	for _, r := range must(db.ListRuns()) {
		c.runs++
		c.logical += uint64(len(r.Name))
		for _, k := range keysOf(db, r, m) {
			h, err := db.KVHistory(r.ID, k)
			if errors.Is(err, inmem.ErrNotFound) {
				continue
			}
			c.keys++
			c.logical += uint64(len(k))
			for _, v := range must(h, err) {
				c.versions++
				c.logical += uint64(len(v.Value))
			}
		}
		for _, e := range must(db.EventRange(r.ID, 0, must(db.EventCount(r.ID)))) {
			c.events++
			c.logical += uint64(len(e.Payload))
		}
		for _, cell := range must(db.StateCells(r.ID)) {
			c.cells++
			c.logical += uint64(len(cell) + len(must(db.StateGet(r.ID, cell)).Value))
		}
	}
	return c
}

// keysOf returns the keys of run r: the live ones, and every key m's
// history wrote to it.
func keysOf(db *inmem.DB, r inmem.RunInfo, m *crashtest.ReferenceModel) []string {
	keys := must(db.KVKeys(r.ID, ""))
	for _, op := range m.Ops() {
		for _, w := range op.Writes {
			if w.Run == r.Name && (w.Kind == crashtest.WriteKVPut || w.Kind == crashtest.WriteKVDelete) {
				keys = append(keys, w.Key)
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// must returns v, panicking on err: for reads that cannot fail in a test
// that checked the database already.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDB_Checkpoint_Empty checkpoints a database with nothing in it.
func TestDB_Checkpoint_Empty(t *testing.T) {
	db, _ := newTestDB(t, nil)
	ck, err := db.Checkpoint()
	if err != nil || ck.Watermark != 0 || ck.SnapshotID != 1 {
		t.Fatalf("Checkpoint of an empty database = %+v, %v", ck, err)
	}
	if _, err := db.CreateRun("r"); err != nil {
		t.Fatal(err)
	}
}

// TestDB_Checkpoint_InMemory checks that Checkpoint does nothing in
// InMemory mode.
func TestDB_Checkpoint_InMemory(t *testing.T) {
	db, mem := newTestDB(t, &inmem.Options{Durability: inmem.InMemory})
	db.CreateRun("r")
	ck, err := db.Checkpoint()
	if err != nil || ck != (inmem.CheckpointInfo{}) {
		t.Fatalf("Checkpoint = %+v, %v; want nothing", ck, err)
	}
	if names, _ := mem.List("/"); len(names) != 0 {
		t.Fatalf("InMemory checkpoint wrote %v", names)
	}
}

// TestDB_Checkpoint_ConcurrentWriters checks that a checkpoint taken while
// writers commit is one point in time: the snapshot alone, loaded as
// recovery loads it, equals the model of every commit at or below its
// watermark, no more and no less.
func TestDB_Checkpoint_ConcurrentWriters(t *testing.T) {
	seed := testSeed(t)
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			db, _ := newTestDB(t, &inmem.Options{Durability: mode, SegmentSize: 16 << 10})
			type shot struct {
				w    inmem.Version
				view *inmem.DB
			}
			var shots []shot
			m := concurrentWorkload(t, db, seed, 6, 150, func() {
				for range 5 {
					ck, err := db.Checkpoint()
					if err != nil {
						t.Error(err)
						return
					}
					view, w, err := inmem.OpenSnapshotForTest(db)
					if err != nil || w != ck.Watermark {
						t.Errorf("snapshot view: watermark %d, %v; checkpoint said %d", w, err, ck.Watermark)
						return
					}
					shots = append(shots, shot{w, view})
					if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
						t.Error(err)
					}
				}
			})
			checkModel(t, db, m, "after the writers")
			ids := runIDs(t, db)
			var inside int
			for _, s := range shots {
				what := fmt.Sprintf("snapshot at watermark %d", s.w)
				checkAt(t, s.view, m, s.w, what)
				checkRunIDs(t, s.view, ids, what)
				if s.w > 1 && s.w < m.Latest() {
					inside++
				}
			}
			if inside == 0 {
				t.Log("no checkpoint fell strictly inside the workload this time")
			}
		})
	}
}

// protocolPoints are the steps of the checkpoint, MANIFEST and compaction
// protocols a crash can fall between.
var protocolPoints = []struct {
	p   crashpoint.Point
	hit uint64
}{
	{crashpoint.DuringSnapshotBeforeRename, 1},
	{crashpoint.DuringSnapshotAfterRename, 1},
	{crashpoint.DuringManifestUpdate, 1},
	{crashpoint.DuringManifestUpdate, 2},
	{crashpoint.DuringCompaction, 1},
	{crashpoint.DuringCompaction, 2},
}

// TestDB_Checkpoint_CrashBetweenSteps crashes between each pair of steps of
// the checkpoint, MANIFEST and compaction protocols, under every crash
// policy, and checks recovery finds every acknowledged commit, then that
// the recovered database checkpoints, compacts and reopens correctly.
func TestDB_Checkpoint_CrashBetweenSteps(t *testing.T) {
	seed := testSeed(t)
	policies := []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}}
	for i := range 3 {
		policies = append(policies, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + uint64(i)})
	}
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		for _, pp := range protocolPoints {
			for _, pol := range policies {
				t.Run(fmt.Sprintf("%s/%s-%d/%s", mode, pp.p, pp.hit, pol), func(t *testing.T) {
					crashBetweenSteps(t, seed, mode, pp.p, pp.hit, pol)
				})
			}
		}
	}
}

func crashBetweenSteps(t *testing.T, seed uint64, mode inmem.Durability, p crashpoint.Point, hit uint64, pol vfs.CrashPolicy) {
	cps := crashpoint.New()
	opts := &inmem.Options{Durability: mode, SegmentSize: 4096, SyncInterval: 1 << 40, CrashPoints: cps}
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	abandon(t, db)
	w := newWorkload(seed)
	w.valueSize = 200
	w.run(t, db, 100)
	if _, err := db.Checkpoint(); err != nil { // an older snapshot to fall back on
		t.Fatal(err)
	}
	w.run(t, db, 100)
	var crashed *vfs.MemFS
	cps.Arm(crashpoint.OnHit(p, hit), func(crashpoint.Point) { crashed = mem.Crash(pol) })
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
		t.Fatal(err)
	}
	if crashed == nil {
		t.Fatalf("crash point %s hit %d never fired", p, hit)
	}
	ropts := &inmem.Options{Durability: mode, SegmentSize: 4096}
	db2 := openMem(t, crashed, ropts)
	checkModel(t, db2, w.m, "after the crash")
	w.run(t, db2, 50)
	if _, err := db2.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Compact(inmem.CompactWALOnly); err != nil {
		t.Fatal(err)
	}
	for path := range files(t, crashed, testDir) {
		if strings.HasSuffix(path, ".tmp") {
			t.Errorf("compaction left %s", path)
		}
	}
	if n := len(files(t, crashed, filepath.Join(testDir, "SNAPSHOTS"))); n != 1 {
		t.Errorf("%d snapshots after compaction, want 1", n)
	}
	db2.Close()
	db3 := openMem(t, crashed, ropts)
	defer db3.Close()
	checkModel(t, db3, w.m, "after checkpoint, compaction and reopen of the recovered database")
}
