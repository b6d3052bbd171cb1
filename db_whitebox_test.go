package inmem

import (
	"strconv"
	"testing"
	"time"

	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/internal/writeset"
	"github.com/in-mem/inmem/vfs"
)

// TestTx_Write_OneMutationPerKey checks that a Tx writing a key or cell
// several times queues one mutation for it, holding the last write, both
// while it searches its writes and once it has built its index map.
func TestTx_Write_OneMutationPerKey(t *testing.T) {
	db, err := Open("db", &Options{FS: vfs.NewMemFS(), Durability: InMemory})
	if err != nil {
		t.Fatal(err)
	}
	run, _ := db.CreateRun("r")
	for _, distinct := range []int{2, smallTx, smallTx + 1, 3 * smallTx} {
		var n int
		err = db.Update(func(tx *Tx) error {
			for round := range 3 {
				v := []byte(strconv.Itoa(round))
				for i := range distinct {
					tx.KVPut(run, "k"+strconv.Itoa(i), v)
				}
				tx.StateSet(run, "k0", v) // a cell, not the key of the same name
				tx.EventAppend(run, v)
			}
			tx.KVDelete(run, "k1")
			n = len(tx.muts)
			if built := tx.keys != nil; built != (distinct+1+1 > smallTx) {
				t.Errorf("%d distinct keys: index map built %v", distinct, built)
			}
			for i := range distinct {
				j, ok := tx.find(txKey{false, run, "k" + strconv.Itoa(i)})
				m := tx.muts[j]
				switch {
				case !ok || m.Key != "k"+strconv.Itoa(i):
					t.Errorf("find(k%d) = %d, %v: %+v", i, j, ok, m)
				case i == 1 && m.Kind != writeset.KVDelete:
					t.Errorf("k1's mutation is %+v, want its deletion", m)
				case i != 1 && string(m.Value) != "2":
					t.Errorf("k%d's mutation holds %q, want the last write", i, m.Value)
				}
			}
			if j, ok := tx.find(txKey{true, run, "k0"}); !ok || tx.muts[j].Kind != writeset.StateSet || string(tx.muts[j].Value) != "2" {
				t.Errorf("cell k0: %d, %v", j, ok)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := distinct + 1 + 3; n != want {
			t.Fatalf("%d distinct keys: %d mutations queued, want %d", distinct, n, want)
		}
	}
}

// TestDB_StateSet_HistoryBounded checks that a cell updated many times
// keeps only the versions a reader may still need, and that a checkpoint's
// pin keeps the version it reads.
func TestDB_StateSet_HistoryBounded(t *testing.T) {
	db, err := Open("db", &Options{FS: vfs.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, _ := db.CreateRun("r")
	for i := range 1000 {
		db.StateSet(run, "c", []byte(strconv.Itoa(i)))
	}
	chainLen := func() int {
		r, _ := db.store.Run(run, state.Latest)
		h := 0
		for v := uint64(1); v <= db.last; v++ {
			if e, ok := r.Cell("c", v); ok && e.Version == v {
				h++
			}
		}
		return h
	}
	if n := chainLen(); n > 2 {
		t.Fatalf("cell keeps %d versions after 1000 updates", n)
	}
	// A pinned version survives later commits until the pin is released.
	db.commitMu.Lock()
	w := db.last
	db.pin.Store(w)
	db.updateFloor()
	db.commitMu.Unlock()
	for i := range 10 {
		db.StateSet(run, "c", []byte("after"+strconv.Itoa(i)))
	}
	r, _ := db.store.Run(run, state.Latest)
	if e, ok := r.Cell("c", w); !ok || e.Version != w || string(e.Value) != "999" {
		t.Fatalf("pinned version %d: %+v, %v", w, e, ok)
	}
	db.pin.Store(0)
	db.updateFloor()
	db.StateSet(run, "c", []byte("last"))
	if n := chainLen(); n > 2 {
		t.Fatalf("cell keeps %d versions after the pin was released", n)
	}
}

// TestDB_Clock_SurvivesReopen: commit timestamps never go back across a
// reopen, even when the wall clock does: a database whose clock ran an
// hour ahead of the wall clock keeps stamping commits at or after its last
// one, whether the reopen replays the log or starts from a snapshot.
func TestDB_Clock_SurvivesReopen(t *testing.T) {
	for _, how := range []string{"log", "snapshot", "snapshot and log"} {
		t.Run(how, func(t *testing.T) {
			mem := vfs.NewMemFS()
			db, err := Open("db", &Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			run, _ := db.CreateRun("r")
			ahead := time.Now().Add(time.Hour).UnixMicro()
			db.lastTS = ahead // as if the wall clock had been an hour ahead
			if _, err := db.KVPut(run, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if how != "log" {
				if _, err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Compact(CompactWALOnly); err != nil {
					t.Fatal(err)
				}
			}
			if how == "snapshot and log" {
				if _, err := db.StateSet(run, "c", []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = Open("db", &Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			v, err := db.KVPut(run, "k2", []byte("after"))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := db.KVGet(run, "k2")
			if got.Version != v || got.Timestamp.UnixMicro() < ahead {
				t.Fatalf("the first commit after the reopen is stamped %v, before the last one %v", got.Timestamp, time.UnixMicro(ahead))
			}
		})
	}
}
