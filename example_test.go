package inmem_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/in-mem/inmem"
)

// The README's quick start: open a database, write to a run's KV, event log
// and state cells, and commit a transaction across them.
func Example() {
	dir, err := os.MkdirTemp("", "inmem-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := inmem.Open(filepath.Join(dir, "data"), &inmem.Options{Durability: inmem.Strict}) // nil options: the defaults
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	run, err := db.GetOrCreateRun("orders")
	if err != nil {
		log.Fatal(err)
	}
	ver, err := db.KVPut(run, "o-17", []byte(`{"total":12}`)) // the commit's version
	if err != nil {
		log.Fatal(err)
	}
	v, err := db.KVGet(run, "o-17") // v.Value, v.Version, v.Timestamp
	if err != nil {
		log.Fatal(err)
	}
	seq, err := db.EventAppend(run, []byte("o-17 created")) // 0, 1, 2, ... per run
	if err != nil {
		log.Fatal(err)
	}
	_, err = db.StateCAS(run, "next-id", 5, []byte("18")) // the cell is not at version 5
	fmt.Println(ver, string(v.Value), v.Version == ver, seq, errors.Is(err, inmem.ErrVersionMismatch))

	err = db.Update(func(tx *inmem.Tx) error { // one WAL record: all of it, or none after any crash
		if err := tx.KVPut(run, "o-18", []byte(`{}`)); err != nil {
			return err
		}
		_, err := tx.EventAppend(run, []byte("o-18 created"))
		return err
	})
	n, _ := db.EventCount(run)
	fmt.Println(err, n)
	// Output:
	// 2 {"total":12} true 0 true
	// <nil> 2
}

// Update runs a transaction: if the function returns an error, nothing it
// wrote is committed.
func ExampleDB_Update() {
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run, _ := db.GetOrCreateRun("accounts")
	db.KVPut(run, "alice", []byte("100"))

	err := db.Update(func(tx *inmem.Tx) error {
		if err := tx.KVPut(run, "alice", []byte("0")); err != nil {
			return err
		}
		return errors.New("bob's account is closed")
	})
	v, _ := db.KVGet(run, "alice")
	fmt.Println(err, string(v.Value))
	// Output:
	// bob's account is closed 100
}

// View reads without copying: the value is the database's own bytes,
// borrowed until the function returns. Copy what you keep.
func ExampleDB_View() {
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run, _ := db.GetOrCreateRun("prices")
	db.KVPut(run, "apple", []byte("3"))

	var kept []byte
	db.View(func(v *inmem.View) error {
		price, _, err := v.KVGet(run, "apple")
		kept = append(kept, price...) // a copy outlives the View
		return err
	})
	fmt.Println(string(kept))
	// Output:
	// 3
}

// StateCAS sets a cell only if it is still at the version the caller read:
// two writers cannot both win.
func ExampleDB_StateCAS() {
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run, _ := db.GetOrCreateRun("jobs")
	v1, _ := db.StateCAS(run, "leader", 0, []byte("worker-1")) // 0: the cell must not exist yet
	_, err := db.StateCAS(run, "leader", 0, []byte("worker-2"))
	var vm *inmem.VersionMismatchError
	cur, _ := db.StateGet(run, "leader")
	fmt.Println(string(cur.Value), cur.Version == v1, errors.As(err, &vm))
	// Output:
	// worker-1 true true
}

// KVHistory keeps every version of a key until retention trims it.
func ExampleDB_KVHistory() {
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run, _ := db.GetOrCreateRun("config")
	first, _ := db.KVPut(run, "mode", []byte("a"))
	db.KVPut(run, "mode", []byte("b"))
	h, _ := db.KVHistory(run, "mode")
	old, _ := db.KVGetAt(run, "mode", first)
	fmt.Println(len(h), string(h[1].Value), string(old.Value))
	// Output:
	// 2 b a
}

// Checkpoint writes a snapshot, so that recovery replays only the log after
// it; Compact then reclaims the log segments it covers.
func ExampleDB_Checkpoint() {
	dir, _ := os.MkdirTemp("", "inmem-example-")
	defer os.RemoveAll(dir)
	db, _ := inmem.Open(dir, nil)
	run, _ := db.GetOrCreateRun("metrics")
	for i := range 3 {
		db.EventAppend(run, []byte(fmt.Sprint("sample ", i)))
	}
	info, err := db.Checkpoint()
	fmt.Println(err, info.SnapshotID, info.Watermark, info.Events)
	db.Close()

	db, _ = inmem.Open(dir, nil) // recovers from the snapshot
	defer db.Close()
	rep := db.Recovery()
	fmt.Println(rep.SnapshotID, db.LastVersion())
	// Output:
	// <nil> 1 4 3
	// 1 4
}

// Inspect describes a database's files without opening it: it takes no
// lock and changes nothing, so it works on a damaged database too.
func ExampleInspect() {
	dir, _ := os.MkdirTemp("", "inmem-example-")
	defer os.RemoveAll(dir)
	db, _ := inmem.Open(dir, nil)
	run, _ := db.GetOrCreateRun("r")
	db.KVPut(run, "k", []byte("v"))
	db.Close()

	rep, err := inmem.Inspect(dir, nil)
	fmt.Println(err, len(rep.Segments), rep.LastTxn, rep.Tail.State, rep.Corruption == nil)
	// Output:
	// <nil> 1 2 clean true
}

// Verify recovers a database into memory and says what it holds, or why
// recovery would refuse it; the files are not changed.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "inmem-example-")
	defer os.RemoveAll(dir)
	db, _ := inmem.Open(dir, nil)
	run, _ := db.GetOrCreateRun("r")
	db.KVPut(run, "k", []byte("v"))
	db.Close()

	rep, err := inmem.Verify(dir, nil)
	fmt.Println(err, rep.Runs, rep.Keys, rep.LastVersion)
	// Output:
	// <nil> 1 1 2
}

// Export writes a consistent copy while the database stays open; Import
// checks the copy and opens it.
func ExampleDB_Export() {
	dir, _ := os.MkdirTemp("", "inmem-example-")
	defer os.RemoveAll(dir)
	db, _ := inmem.Open(filepath.Join(dir, "live"), nil)
	run, _ := db.GetOrCreateRun("r")
	db.KVPut(run, "k", []byte("v"))
	_, err := db.Export(filepath.Join(dir, "backup"))
	db.Close()

	copyDB, ierr := inmem.Import(filepath.Join(dir, "backup"), &inmem.Options{Durability: inmem.InMemory})
	run, _ = copyDB.ResolveRun("r")
	v, _ := copyDB.KVGet(run, "k")
	copyDB.Close()
	fmt.Println(err, ierr, string(v.Value))
	// Output:
	// <nil> <nil> v
}
