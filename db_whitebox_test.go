package inmem

import (
	"strconv"
	"testing"

	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/vfs"
)

// TestTx_Write_OneMutationPerKey checks that a Tx writing a key or cell
// several times queues one mutation for it, holding the last write.
func TestTx_Write_OneMutationPerKey(t *testing.T) {
	db, err := Open("db", &Options{FS: vfs.NewMemFS(), Durability: InMemory})
	if err != nil {
		t.Fatal(err)
	}
	run, _ := db.CreateRun("r")
	var n int
	err = db.Update(func(tx *Tx) error {
		for i := range 5 {
			tx.KVPut(run, "k", []byte(strconv.Itoa(i)))
			tx.StateSet(run, "c", []byte(strconv.Itoa(i)))
			tx.KVPut(run, "k"+strconv.Itoa(i), nil)
		}
		tx.KVDelete(run, "k")
		n = len(tx.muts)
		if m := tx.muts[tx.kv[txKey{run, "k"}]]; m.Value != nil || m.Key != "k" {
			t.Errorf("the mutation of k is %+v, want its deletion", m)
		}
		if m := tx.muts[tx.cells[txKey{run, "c"}]]; string(m.Value) != "4" {
			t.Errorf("the mutation of c holds %q, want the last write", m.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 { // k, c, k0..k4
		t.Fatalf("%d mutations queued, want 7", n)
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
