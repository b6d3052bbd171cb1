package inmem_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

// TestDB_ConcurrentWriters runs many writers over every primitive, with
// readers, checkpoints and compactions alongside, then checks the state,
// and after reopen, holds exactly every acknowledged write.
func TestDB_ConcurrentWriters(t *testing.T) {
	seed := testSeed(t)
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered, inmem.InMemory} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			opts := &inmem.Options{Durability: mode, SegmentSize: 32 << 10}
			db := openMem(t, mem, opts)
			var stop atomic.Bool
			var readers sync.WaitGroup
			readErrs := make(chan error, 4)
			for range 3 {
				readers.Go(func() { readErrs <- monotonicReader(db, &stop) })
			}
			m := concurrentWorkload(t, db, seed, 12, 120, func() {
				for i := range 6 {
					if _, err := db.Checkpoint(); err != nil {
						t.Error(err)
					}
					mode := inmem.CompactWALOnly
					if i%3 == 2 {
						mode = inmem.CompactFull
					}
					if _, err := db.Compact(mode); err != nil {
						t.Error(err)
					}
				}
			})
			stop.Store(true)
			readers.Wait()
			close(readErrs)
			for err := range readErrs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if acked := ackedWrites(m); acked < 12*100 {
				t.Fatalf("only %d commits", acked)
			}
			// Full compactions trimmed by the policies the writers set, at
			// points of the history the model cannot know: it accepts a
			// key's history cut down to its run's strictest policy.
			m.Ack(m.Begin(crashtest.Op{Kind: crashtest.OpCompact, Mode: inmem.CompactFull}), 0, nil)
			checkModel(t, db, m, "after the writers")
			got := capture(t, db, m)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if mode == inmem.InMemory {
				return
			}
			db = openMem(t, mem, opts)
			defer db.Close()
			checkSame(t, got, capture(t, db, m), "reopened state differs")
		})
	}
}

// ackedWrites counts the acknowledged write operations of m's history.
func ackedWrites(m *crashtest.ReferenceModel) int {
	n := 0
	for _, op := range m.Ops() {
		if op.Kind == crashtest.OpWrite && op.Status == crashtest.Acked {
			n++
		}
	}
	return n
}

// monotonicReader reads until stop and checks what readers may rely on:
// LastVersion and event counts never go back, a run, key or cell once seen
// never disappears, and a value read is never newer than LastVersion read
// after it.
func monotonicReader(db *inmem.DB, stop *atomic.Bool) error {
	var last inmem.Version
	events := map[inmem.RunID]uint64{}
	cells := map[string]inmem.Version{}
	for !stop.Load() {
		v := db.LastVersion()
		if v < last {
			return fmt.Errorf("LastVersion went back from %d to %d", last, v)
		}
		last = v
		runs, err := db.ListRuns()
		if err != nil {
			return err
		}
		for _, r := range runs {
			n, err := db.EventCount(r.ID)
			if err != nil {
				return fmt.Errorf("run %q listed, then: %w", r.Name, err)
			}
			if n < events[r.ID] {
				return fmt.Errorf("run %q: event count went back from %d to %d", r.Name, events[r.ID], n)
			}
			events[r.ID] = n
			names, err := db.StateCells(r.ID)
			if err != nil {
				return err
			}
			for _, c := range names {
				got, err := db.StateGet(r.ID, c)
				if err != nil {
					return fmt.Errorf("run %q cell %q listed, then: %w", r.Name, c, err)
				}
				id := r.Name + "/" + c
				if got.Version < cells[id] {
					return fmt.Errorf("cell %s went back from version %d to %d", id, cells[id], got.Version)
				}
				cells[id] = got.Version
				if after := db.LastVersion(); got.Version > after {
					return fmt.Errorf("cell %s read at version %d above LastVersion %d", id, got.Version, after)
				}
			}
		}
	}
	return nil
}

// TestDB_ConcurrentReads_CellsNeverVanish has readers hammer a state cell
// that a writer keeps updating: a cell that exists must always read.
func TestDB_ConcurrentReads_CellsNeverVanish(t *testing.T) {
	for _, mode := range []inmem.Durability{inmem.InMemory, inmem.Strict} {
		t.Run(mode.String(), func(t *testing.T) {
			db, _ := newTestDB(t, &inmem.Options{Durability: mode})
			run, _ := db.CreateRun("r")
			if _, err := db.StateSet(run, "c", []byte("0")); err != nil {
				t.Fatal(err)
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			var failures atomic.Int64
			var firstErr atomic.Pointer[error]
			for range 2 {
				wg.Go(func() {
					for !stop.Load() {
						if _, err := db.StateGet(run, "c"); err != nil {
							failures.Add(1)
							firstErr.CompareAndSwap(nil, &err)
						}
						if names, _ := db.StateCells(run); len(names) != 1 {
							err := fmt.Errorf("StateCells = %v", names)
							failures.Add(1)
							firstErr.CompareAndSwap(nil, &err)
						}
					}
				})
			}
			n := 20000
			if mode == inmem.Strict {
				n = 3000
			}
			for i := range n {
				if _, err := db.StateSet(run, "c", []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			stop.Store(true)
			wg.Wait()
			if f := failures.Load(); f > 0 {
				t.Fatalf("%d reads of an existing cell failed, first: %v", f, *firstErr.Load())
			}
		})
	}
}

// TestDB_GetOrCreateRun_Concurrent checks that goroutines racing to create
// one run all get the same id and exactly one run exists.
func TestDB_GetOrCreateRun_Concurrent(t *testing.T) {
	db, _ := newTestDB(t, nil)
	ids := make([]inmem.RunID, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := db.GetOrCreateRun("same")
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids differ: %v", ids)
		}
	}
	if runs, _ := db.ListRuns(); len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
}

// TestDB_StateCAS_Concurrent has goroutines increment one counter cell with
// compare-and-swap: no increment may be lost or applied twice.
func TestDB_StateCAS_Concurrent(t *testing.T) {
	db, _ := newTestDB(t, nil)
	run, _ := db.CreateRun("r")
	const workers, each = 8, 40
	var wg sync.WaitGroup
	var versions sync.Map
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				cur, err := db.StateGet(run, "n")
				n := 0
				if err == nil {
					n, _ = strconv.Atoi(string(cur.Value))
				} else if !errors.Is(err, inmem.ErrNotFound) {
					t.Error(err)
					return
				}
				v, err := db.StateCAS(run, "n", cur.Version, []byte(strconv.Itoa(n+1)))
				if errors.Is(err, inmem.ErrVersionMismatch) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if _, dup := versions.LoadOrStore(v, true); dup {
					t.Errorf("version %d acknowledged twice", v)
				}
				done++
			}
		})
	}
	wg.Wait()
	got, err := db.StateGet(run, "n")
	if err != nil || string(got.Value) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q, %v; want %d", got.Value, err, workers*each)
	}
}
