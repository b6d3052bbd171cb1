package inmem_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
)

// TestDB_Checkpoint_SameAsLogOnly runs one seeded workload twice, once with
// checkpoints (and a compaction) in the middle and once without, and checks
// both recover to the same state, the model's.
func TestDB_Checkpoint_SameAsLogOnly(t *testing.T) {
	seed := testSeed(t)
	opts := &inmem.Options{SegmentSize: 8 << 10}
	var states []dbState
	var reports []inmem.RecoveryReport
	for _, withCheckpoint := range []bool{false, true} {
		mem := vfs.NewMemFS()
		db := openMem(t, mem, opts)
		g := newGen(seed, "w")
		g.valueSize = 50
		g.retention = true
		runGen(t, g, db, 200)
		if withCheckpoint {
			if _, err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		runGen(t, g, db, 200)
		if withCheckpoint {
			if _, err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
				t.Fatal(err)
			}
		}
		runGen(t, g, db, 100)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openMem(t, mem, opts)
		checkModel(t, db, g.m, fmt.Sprintf("checkpoint %v", withCheckpoint))
		states = append(states, dump(t, db, g.m.extra()).noTS())
		reports = append(reports, db.Recovery())
		db.Close()
	}
	if d := diffStates(states[0], withIDs(states[1], states[0])); d != "" {
		t.Fatalf("snapshot plus log differs from log alone:\n%s", d)
	}
	if reports[1].SnapshotID != 2 || reports[1].Records >= reports[0].Records || reports[1].Watermark == 0 {
		t.Fatalf("recovery with checkpoints %+v should start from snapshot 2 and replay fewer records than %d", reports[1], reports[0].Records)
	}
}

// TestDB_Checkpoint_Info checks what Checkpoint reports against the model.
func TestDB_Checkpoint_Info(t *testing.T) {
	db, mem := newTestDB(t, nil)
	g := newGen(testSeed(t), "w")
	runGen(t, g, db, 300)
	for i := range 3 {
		ck, err := db.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if ck.SnapshotID != uint64(i+1) || ck.Watermark != db.LastVersion() || ck.Watermark != g.m.last {
			t.Fatalf("checkpoint %d: %+v, want snapshot %d at watermark %d", i, ck, i+1, g.m.last)
		}
		if size := fileSize(t, mem, ck.File); size != ck.Bytes || filepath.Dir(ck.File) != filepath.Join(testDir, "SNAPSHOTS") {
			t.Fatalf("checkpoint file %s is %d bytes, info says %d", ck.File, size, ck.Bytes)
		}
		var keys, versions, events, cells, logical uint64
		for _, r := range g.m.state().Runs {
			logical += uint64(len(r.Name))
			for k, h := range r.KV {
				keys++
				versions += uint64(len(h))
				logical += uint64(len(k))
				for _, v := range h {
					logical += uint64(len(v.Value))
				}
			}
			for _, e := range r.Events {
				events++
				logical += uint64(len(e.Payload))
			}
			for c, v := range r.Cells {
				cells++
				logical += uint64(len(c) + len(v.Value))
			}
		}
		if ck.Runs != uint64(len(g.m.runs)) || ck.Keys != keys || ck.Versions != versions || ck.Events != events || ck.Cells != cells {
			t.Fatalf("checkpoint counts %+v, want %d runs %d keys %d versions %d events %d cells", ck, len(g.m.runs), keys, versions, events, cells)
		}
		if ck.Logical != logical {
			t.Fatalf("checkpoint logical bytes %d, want %d", ck.Logical, logical)
		}
		runGen(t, g, db, 50)
	}
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

// concurrentWorkload runs writers gens concurrently (each on its own runs,
// plus events appended by all of them to one shared run) while during
// runs in the calling goroutine. It returns every acknowledged commit.
func concurrentWorkload(t testing.TB, db *inmem.DB, seed uint64, writers, steps int, during func()) []rec {
	t.Helper()
	var shared inmem.RunID
	v, err := db.Commit(func(tx *inmem.Tx) (err error) {
		shared, err = tx.CreateRun("shared")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	recs := []rec{{v: v, muts: []mut{{kind: mCreateRun, run: "shared", id: shared}}}}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			g := newGen(seed+uint64(w), fmt.Sprintf("w%d", w))
			g.retention = true
			for i := range steps {
				step := g.step
				if i%4 == 3 {
					step = func(db *inmem.DB) (rec, bool, error) { return sharedEvent(db, shared, g.value("shared")) }
				}
				r, ok, err := step(db)
				if err != nil {
					errs <- fmt.Errorf("%s step %d: %w", g.name, i, err)
					return
				}
				if ok {
					mu.Lock()
					recs = append(recs, r)
					mu.Unlock()
				}
			}
		})
	}
	during()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return recs
}

func sharedEvent(db *inmem.DB, run inmem.RunID, payload string) (rec, bool, error) {
	var seq uint64
	v, err := db.Commit(func(tx *inmem.Tx) (err error) {
		seq, err = tx.EventAppend(run, []byte(payload))
		return err
	})
	if err != nil {
		return rec{}, false, err
	}
	return rec{v: v, muts: []mut{{kind: mEvent, run: "shared", value: payload, seq: seq}}}, true, nil
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
				w     inmem.Version
				state func(map[string][]string) dbState
			}
			var shots []shot
			recs := concurrentWorkload(t, db, seed, 6, 150, func() {
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
					shots = append(shots, shot{w, func(extra map[string][]string) dbState { return dump(t, view, extra) }})
					if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
						t.Error(err)
					}
				}
			})
			final, err := modelOf(recs, ^inmem.Version(0))
			if err != nil {
				t.Fatal(err)
			}
			checkModel(t, db, final, "after the writers")
			var inside int
			for _, s := range shots {
				m, err := modelOf(recs, s.w)
				if err != nil {
					t.Fatal(err)
				}
				if m.last != s.w {
					t.Fatalf("no acknowledged commit has the watermark %d (highest below: %d)", s.w, m.last)
				}
				if d := diffStates(m.state(), s.state(final.extra()).noTS()); d != "" {
					t.Fatalf("snapshot at watermark %d is not the state at that version:\n%s", s.w, d)
				}
				if s.w > 1 && s.w < final.last {
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
	g := newGen(seed, "w")
	g.valueSize = 200
	runGen(t, g, db, 100)
	if _, err := db.Checkpoint(); err != nil { // an older snapshot to fall back on
		t.Fatal(err)
	}
	runGen(t, g, db, 100)
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
	checkModel(t, db2, g.m, "after the crash")
	runGen(t, g, db2, 50)
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
	checkModel(t, db3, g.m, "after checkpoint, compaction and reopen of the recovered database")
}
