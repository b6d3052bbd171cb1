package inmem_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// TestDB_Reopen_ExactState checks that every primitive, version, event
// sequence and timestamp reads the same after Close and Open, from the log
// alone and again after a checkpoint.
func TestDB_Reopen_ExactState(t *testing.T) {
	seed := testSeed(t)
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	w := newWorkload(seed)
	w.retention = true
	w.run(t, db, 400)
	checkModel(t, db, w.m, "before close")
	before := capture(t, db, w.m)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"log only", "after checkpoint", "after checkpoint and more writes"} {
		db = openMem(t, mem, nil)
		checkSame(t, before, capture(t, db, w.m), step+": reopened state differs")
		switch step {
		case "log only":
			if _, err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		case "after checkpoint":
			w.run(t, db, 100)
		}
		before = capture(t, db, w.m)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if acked := ackedWrites(w.m); acked < 200 {
		t.Fatalf("only %d commits acknowledged; the workload is too weak", acked)
	}
}

// TestDB_Reopen_NextVersionAbove checks that the first commit after a
// reopen gets a version above every recovered one, and a timestamp not
// below theirs.
func TestDB_Reopen_NextVersionAbove(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	var last inmem.Version
	for i := range 10 {
		if last, err = db.KVPut(run, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	lastTS := mustGet(t, db, run, "k").Timestamp
	db.Close()
	db = openMem(t, mem, nil)
	defer db.Close()
	if got := db.LastVersion(); got != last {
		t.Fatalf("LastVersion after reopen = %d, want %d", got, last)
	}
	v, err := db.KVPut(run, "k", []byte("next"))
	if err != nil {
		t.Fatal(err)
	}
	if v != last+1 {
		t.Fatalf("first version after reopen = %d, want %d", v, last+1)
	}
	if ts := mustGet(t, db, run, "k").Timestamp; ts.Before(lastTS) {
		t.Fatalf("timestamp after reopen %v is before the recovered %v", ts, lastTS)
	}
	if r := db.Recovery(); r.Records != 11 || r.Last != last || r.Created {
		t.Fatalf("recovery report %+v, want 11 records up to version %d", r, last)
	}
}

func mustGet(t testing.TB, db *inmem.DB, run inmem.RunID, key string) inmem.Versioned {
	t.Helper()
	v, err := db.KVGet(run, key)
	if err != nil {
		t.Fatalf("KVGet %q: %v", key, err)
	}
	return v
}

// TestDB_Update_ErrorWritesNothing checks that a transaction whose function
// fails leaves no trace: not in memory, not in the log, not after reopen.
func TestDB_Update_ErrorWritesNothing(t *testing.T) {
	// Inline preparation: no zeros written ahead after a commit returns.
	db, mem := newTestDB(t, &inmem.Options{Preparation: inmem.PrepareInline})
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.KVPut(run, "kept", []byte("v")); err != nil {
		t.Fatal(err)
	}
	last := db.LastVersion()
	logBefore := files(t, mem, filepath.Join(testDir, "WAL"))
	err = db.Update(func(tx *inmem.Tx) error {
		if _, err := tx.CreateRun("ghost"); err != nil {
			return err
		}
		if err := tx.KVPut(run, "k", []byte("x")); err != nil {
			return err
		}
		if err := tx.KVDelete(run, "kept"); err != nil {
			return err
		}
		if _, err := tx.EventAppend(run, []byte("e")); err != nil {
			return err
		}
		if err := tx.StateSet(run, "c", []byte("s")); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if db.LastVersion() != last {
		t.Fatalf("LastVersion moved from %d to %d", last, db.LastVersion())
	}
	if err := sameFiles(logBefore, files(t, mem, filepath.Join(testDir, "WAL"))); err != nil {
		t.Fatalf("the log changed: %v", err)
	}
	if _, err := db.ResolveRun("ghost"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("ResolveRun(ghost) = %v, want ErrRunNotFound", err)
	}
	if _, err := db.KVGet(run, "k"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("KVGet(k) = %v, want ErrNotFound", err)
	}
	mustGet(t, db, run, "kept")
	if n, _ := db.EventCount(run); n != 0 {
		t.Fatalf("EventCount = %d, want 0", n)
	}
	if _, err := db.StateGet(run, "c"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("StateGet(c) = %v, want ErrNotFound", err)
	}
	// The next commit takes the version the aborted one would have had.
	if v, err := db.KVPut(run, "after", nil); err != nil || v != last+1 {
		t.Fatalf("next KVPut = %d, %v; want version %d", v, err, last+1)
	}
}

// TestDB_Commit_EmptyTransaction checks that a transaction that writes
// nothing commits nothing and gets version 0.
func TestDB_Commit_EmptyTransaction(t *testing.T) {
	db, _ := newTestDB(t, nil)
	v, err := db.Commit(func(tx *inmem.Tx) error { return nil })
	if err != nil || v != 0 || db.LastVersion() != 0 {
		t.Fatalf("empty Commit = %d, %v (LastVersion %d), want 0, nil, 0", v, err, db.LastVersion())
	}
}

// TestTx_KVPut_SameKeyTwice checks that a transaction writing one key (or
// cell) several times commits one version of it, the last write, and that
// the result survives a checkpoint and reopen.
func TestTx_KVPut_SameKeyTwice(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.Commit(func(tx *inmem.Tx) error {
		for _, s := range []string{"a", "b", "c"} {
			if err := tx.KVPut(run, "k", []byte(s)); err != nil {
				return err
			}
			if err := tx.StateSet(run, "cell", []byte(s)); err != nil {
				return err
			}
		}
		if err := tx.KVPut(run, "gone", []byte("x")); err != nil {
			return err
		}
		return tx.KVDelete(run, "gone")
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		h, err := db.KVHistory(run, "k")
		if err != nil || len(h) != 1 || string(h[0].Value) != "c" || h[0].Version != v {
			t.Fatalf("%s: KVHistory(k) = %+v, %v; want one version %d holding c", what, h, err, v)
		}
		c, err := db.StateGet(run, "cell")
		if err != nil || string(c.Value) != "c" || c.Version != v {
			t.Fatalf("%s: StateGet(cell) = %+v, %v; want c at %d", what, c, err, v)
		}
		if _, err := db.KVGet(run, "gone"); !errors.Is(err, inmem.ErrNotFound) {
			t.Fatalf("%s: KVGet(gone) = %v, want ErrNotFound", what, err)
		}
	}
	check("live")
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openMem(t, mem, nil)
	defer db.Close()
	check("after checkpoint and reopen")
}

// TestTx_UseAfterDone checks that a Tx kept past its function refuses use.
func TestTx_UseAfterDone(t *testing.T) {
	db, _ := newTestDB(t, nil)
	run, _ := db.CreateRun("r")
	var kept *inmem.Tx
	if err := db.Update(func(tx *inmem.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept.KVPut(run, "k", nil); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("KVPut on a finished Tx = %v, want ErrTxDone", err)
	}
	if _, err := kept.CreateRun("x"); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("CreateRun on a finished Tx = %v, want ErrTxDone", err)
	}
}

// TestDB_Open_Locked checks that a second Open of an open directory fails
// with ErrLocked, on MemFS and on the real filesystem, and succeeds once
// the first is closed.
func TestDB_Open_Locked(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   vfs.FS
		dir  string
	}{
		{"memfs", vfs.NewMemFS(), testDir},
		{"os", vfs.OS, filepath.Join(t.TempDir(), "db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := inmem.Open(tc.dir, &inmem.Options{FS: tc.fs})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inmem.Open(tc.dir, &inmem.Options{FS: tc.fs}); !errors.Is(err, inmem.ErrLocked) {
				t.Fatalf("second Open = %v, want ErrLocked", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db2, err := inmem.Open(tc.dir, &inmem.Options{FS: tc.fs})
			if err != nil {
				t.Fatalf("Open after Close: %v", err)
			}
			db2.Close()
		})
	}
}

// TestDB_Close_Twice checks that every call after Close returns ErrClosed.
func TestDB_Close_Twice(t *testing.T) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered, inmem.InMemory} {
		t.Run(d.String(), func(t *testing.T) {
			db := openMem(t, vfs.NewMemFS(), &inmem.Options{Durability: d})
			run, err := db.CreateRun("r")
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
			if _, err := db.KVPut(run, "k", nil); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("KVPut = %v, want ErrClosed", err)
			}
			if _, err := db.KVGet(run, "k"); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("KVGet = %v, want ErrClosed", err)
			}
			if _, err := db.ListRuns(); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("ListRuns = %v, want ErrClosed", err)
			}
			if _, err := db.Checkpoint(); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("Checkpoint = %v, want ErrClosed", err)
			}
			if _, err := db.Compact(inmem.CompactWALOnly); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("Compact = %v, want ErrClosed", err)
			}
			if err := db.Flush(); !errors.Is(err, inmem.ErrClosed) {
				t.Errorf("Flush = %v, want ErrClosed", err)
			}
		})
	}
}

// TestDB_Durabilities_SameBehaviour runs one seeded workload in every mode
// and checks the API shows the same state: storage is invisible.
func TestDB_Durabilities_SameBehaviour(t *testing.T) {
	seed := testSeed(t)
	var histories []string
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered, inmem.InMemory} {
		db, _ := newTestDB(t, &inmem.Options{Durability: d})
		w := newWorkload(seed)
		w.run(t, db, 300)
		checkModel(t, db, w.m, d.String())
		histories = append(histories, fmt.Sprint(w.m.Ops()))
	}
	// Each database holds exactly its model's state; one history means one
	// state.
	for i := 1; i < len(histories); i++ {
		if histories[i] != histories[0] {
			t.Fatalf("mode %d went differently from strict:\n%s\n%s", i, histories[0], histories[i])
		}
	}
}

// TestDB_InMemory_WritesNothing checks that InMemory touches no file.
func TestDB_InMemory_WritesNothing(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, &inmem.Options{Durability: inmem.InMemory})
	newWorkload(1).run(t, db, 50)
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if names, err := mem.List("/"); err != nil || len(names) != 0 {
		t.Fatalf("InMemory created %v (%v)", names, err)
	}
	if db.Dir() != "" {
		t.Fatalf("Dir() = %q, want empty", db.Dir())
	}
}

// newRunDB is a test database holding one run, "r".
func newRunDB(t *testing.T) (*inmem.DB, inmem.RunID) {
	t.Helper()
	db, _ := newTestDB(t, nil)
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	return db, run
}

// TestDB_Errors_Runs checks the refusals about runs: a name created twice
// is ErrRunExists (GetOrCreateRun returns the existing run), an empty name
// is ErrInvalid, and every op on a missing run is ErrRunNotFound.
func TestDB_Errors_Runs(t *testing.T) {
	db, run := newRunDB(t)
	if _, err := db.CreateRun("r"); !errors.Is(err, inmem.ErrRunExists) {
		t.Errorf("CreateRun twice = %v, want ErrRunExists", err)
	}
	if id, err := db.GetOrCreateRun("r"); err != nil || id != run {
		t.Errorf("GetOrCreateRun existing = %v, %v; want %v", id, err, run)
	}
	if _, err := db.CreateRun(""); !errors.Is(err, inmem.ErrInvalid) {
		t.Errorf("CreateRun(\"\") = %v, want ErrInvalid", err)
	}
	var missing inmem.RunID
	missing[0] = 1
	for name, err := range map[string]error{
		"KVPut":       second(db.KVPut(missing, "k", nil)),
		"KVGet":       second(db.KVGet(missing, "k")),
		"EventAppend": second(db.EventAppend(missing, nil)),
		"StateSet":    second(db.StateSet(missing, "c", nil)),
		"EventCount":  second(db.EventCount(missing)),
	} {
		if !errors.Is(err, inmem.ErrRunNotFound) {
			t.Errorf("%s on a missing run = %v, want ErrRunNotFound", name, err)
		}
	}
}

// TestDB_Errors_EmptyNames checks that an empty cell name is ErrInvalid and
// commits nothing, while an empty key is fine.
func TestDB_Errors_EmptyNames(t *testing.T) {
	db, run := newRunDB(t)
	last := db.LastVersion()
	for name, err := range map[string]error{
		"StateSet": second(db.StateSet(run, "", []byte("v"))),
		"StateCAS": second(db.StateCAS(run, "", 0, []byte("v"))),
	} {
		if !errors.Is(err, inmem.ErrInvalid) {
			t.Errorf("%s with an empty cell name = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := db.KVPut(run, "", []byte("an empty key is fine")); err != nil {
		t.Errorf("KVPut with an empty key = %v", err)
	}
	if db.LastVersion() != last+1 {
		t.Errorf("the refused cell writes committed: last version %d, want %d", db.LastVersion(), last+1)
	}
}

// TestDB_Errors_NotFound checks that deleting a missing key and reading its
// history are ErrNotFound.
func TestDB_Errors_NotFound(t *testing.T) {
	db, run := newRunDB(t)
	if err := db.KVDelete(run, "nope"); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("KVDelete missing = %v, want ErrNotFound", err)
	}
	if _, err := db.KVHistory(run, "nope"); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("KVHistory missing = %v, want ErrNotFound", err)
	}
}

// TestDB_Errors_Limits checks that a key over MaxKeySize is ErrInvalid and
// a record over the maximum record size is ErrTooLarge, writing nothing.
func TestDB_Errors_Limits(t *testing.T) {
	db, run := newRunDB(t)
	if _, err := db.KVPut(run, strings.Repeat("k", inmem.MaxKeySize+1), nil); !errors.Is(err, inmem.ErrInvalid) {
		t.Errorf("KVPut with an oversized key = %v, want ErrInvalid", err)
	}
	big := make([]byte, inmem.DefaultMaxRecordSize)
	if _, err := db.KVPut(run, "big", big); !errors.Is(err, inmem.ErrTooLarge) {
		t.Errorf("KVPut of %d bytes = %v, want ErrTooLarge", len(big), err)
	}
	if _, err := db.KVGet(run, "big"); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("the too-large put left %v", err)
	}
}

// TestDB_Errors_CAS checks that a compare-and-set on a stale version is a
// *VersionMismatchError naming both versions, and on the current one
// succeeds.
func TestDB_Errors_CAS(t *testing.T) {
	db, run := newRunDB(t)
	v1, err := db.StateCAS(run, "c", 0, []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.StateCAS(run, "c", 0, []byte("2"))
	var vm *inmem.VersionMismatchError
	if !errors.As(err, &vm) || vm.Actual != v1 || vm.Expected != 0 || vm.Cell != "c" || !errors.Is(err, inmem.ErrVersionMismatch) {
		t.Errorf("CAS on a stale version = %v, want a *VersionMismatchError at %d", err, v1)
	}
	if v2, err := db.StateCAS(run, "c", v1, []byte("2")); err != nil || v2 <= v1 {
		t.Errorf("CAS on the current version = %d, %v", v2, err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestDB_KV_ReadsAndHistory checks versioned reads: KVGetAt, KVHistory with
// deletions, KVKeys with prefixes, EventRange clamping.
func TestDB_KV_ReadsAndHistory(t *testing.T) {
	db, _ := newTestDB(t, nil)
	run, _ := db.CreateRun("r")
	v1, _ := db.KVPut(run, "a/1", []byte("one"))
	v2, _ := db.KVPut(run, "a/1", []byte("two"))
	if err := db.KVDelete(run, "a/1"); err != nil {
		t.Fatal(err)
	}
	v3 := db.LastVersion()
	v4, _ := db.KVPut(run, "a/1", []byte("four"))
	db.KVPut(run, "a/2", nil)
	db.KVPut(run, "b/1", []byte("b"))
	for _, tc := range []struct {
		at      inmem.Version
		want    string
		missing bool
	}{{v1 - 1, "", true}, {v1, "one", false}, {v2, "two", false}, {v3, "", true}, {v4, "four", false}, {v4 + 100, "four", false}} {
		got, err := db.KVGetAt(run, "a/1", tc.at)
		if tc.missing {
			if !errors.Is(err, inmem.ErrNotFound) {
				t.Errorf("KVGetAt(%d) = %+v, %v; want ErrNotFound", tc.at, got, err)
			}
			continue
		}
		if err != nil || string(got.Value) != tc.want {
			t.Errorf("KVGetAt(%d) = %q, %v; want %q", tc.at, got.Value, err, tc.want)
		}
	}
	h, err := db.KVHistory(run, "a/1")
	if err != nil || len(h) != 4 || h[2].Value != nil || h[2].Version != v3 || string(h[3].Value) != "four" {
		t.Fatalf("KVHistory = %+v, %v", h, err)
	}
	if v := mustGet(t, db, run, "a/2"); v.Value == nil || len(v.Value) != 0 {
		t.Errorf("a nil value reads back as %#v, want empty non-nil", v.Value)
	}
	keys, _ := db.KVKeys(run, "a/")
	if strings.Join(keys, ",") != "a/1,a/2" {
		t.Errorf("KVKeys(a/) = %v", keys)
	}
	for i := range 5 {
		if seq, err := db.EventAppend(run, []byte{byte(i)}); err != nil || seq != uint64(i) {
			t.Fatalf("EventAppend %d = %d, %v", i, seq, err)
		}
	}
	for _, tc := range []struct{ from, to, n uint64 }{{0, 5, 5}, {2, 100, 3}, {4, 2, 0}, {5, 9, 0}} {
		evs, err := db.EventRange(run, tc.from, tc.to)
		if err != nil || uint64(len(evs)) != tc.n {
			t.Errorf("EventRange(%d, %d) = %d events, %v; want %d", tc.from, tc.to, len(evs), err, tc.n)
		}
		for i, e := range evs {
			if e.Seq != tc.from+uint64(i) || !bytes.Equal(e.Payload, []byte{byte(e.Seq)}) {
				t.Errorf("EventRange(%d, %d)[%d] = %+v", tc.from, tc.to, i, e)
			}
		}
	}
}

// TestDB_Reads_ReturnCopies checks that a caller changing a returned or
// passed slice does not change the database.
func TestDB_Reads_ReturnCopies(t *testing.T) {
	db, _ := newTestDB(t, nil)
	run, _ := db.CreateRun("r")
	val := []byte("value")
	db.KVPut(run, "k", val)
	val[0] = 'X'
	got := mustGet(t, db, run, "k")
	got.Value[1] = 'Y'
	if v := mustGet(t, db, run, "k"); string(v.Value) != "value" {
		t.Fatalf("stored value changed to %q", v.Value)
	}
}

// TestParseDurability is a table test of ParseDurability and String.
func TestParseDurability(t *testing.T) {
	tcs := []struct {
		name string
		in   string
		want inmem.Durability
		err  bool
	}{
		{"strict", "strict", inmem.Strict, false},
		{"buffered", "buffered", inmem.Buffered, false},
		{"inmemory", "inmemory", inmem.InMemory, false},
		{"empty", "", 0, true},
		{"case", "Strict", 0, true},
		{"unknown", "fast", 0, true},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inmem.ParseDurability(tc.in)
			if tc.err {
				if !errors.Is(err, inmem.ErrInvalid) {
					t.Fatalf("ParseDurability(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want || got.String() != tc.in {
				t.Fatalf("ParseDurability(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

// TestParseRunID is a table test of ParseRunID and RunID.String.
func TestParseRunID(t *testing.T) {
	id := inmem.RunID{0: 0xab, 15: 0x01}
	tcs := []struct {
		name string
		in   string
		want inmem.RunID
		err  bool
	}{
		{"roundtrip", id.String(), id, false},
		{"zero", strings.Repeat("0", 32), inmem.RunID{}, false},
		{"upper", strings.ToUpper(id.String()), id, false},
		{"short", "abcd", inmem.RunID{}, true},
		{"long", strings.Repeat("0", 34), inmem.RunID{}, true},
		{"not hex", strings.Repeat("g", 32), inmem.RunID{}, true},
		{"empty", "", inmem.RunID{}, true},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inmem.ParseRunID(tc.in)
			if tc.err {
				if !errors.Is(err, inmem.ErrInvalid) {
					t.Fatalf("ParseRunID(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRunID(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestOptions_Validate is a table test of the options Open refuses.
func TestOptions_Validate(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	tcs := []struct {
		name string
		opts inmem.Options
	}{
		{"durability", inmem.Options{Durability: 9}},
		{"recovery mode", inmem.Options{Recovery: 9}},
		{"preparation", inmem.Options{Preparation: 9}},
		{"segment too small", inmem.Options{SegmentSize: 4095}},
		{"negative segment", inmem.Options{SegmentSize: -1}},
		{"negative sync interval", inmem.Options{SyncInterval: -time.Second}},
		{"record too small", inmem.Options{MaxRecordSize: 10}},
		{"record above segment", inmem.Options{SegmentSize: 4096, MaxRecordSize: 4096}},
		{"record above 1GiB", inmem.Options{SegmentSize: 4 << 30, MaxRecordSize: 1<<30 + 1}},
		{"short key", inmem.Options{EncryptionKey: key[:16]}},
		{"codec and key", inmem.Options{EncryptionKey: key, Codec: inmem.IdentityCodec()}},
		{"empty codec id", inmem.Options{Codec: badIDCodec("")}},
		{"long codec id", inmem.Options{Codec: badIDCodec(strings.Repeat("x", 256))}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			tc.opts.FS = mem
			db, err := inmem.Open(testDir, &tc.opts)
			if !errors.Is(err, inmem.ErrInvalid) {
				if db != nil {
					db.Close()
				}
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
			if names, _ := mem.List("/"); len(names) != 0 {
				t.Fatalf("a refused Open created %v", names)
			}
		})
	}
	t.Run("empty dir", func(t *testing.T) {
		if _, err := inmem.Open("", &inmem.Options{FS: vfs.NewMemFS()}); !errors.Is(err, inmem.ErrInvalid) {
			t.Fatalf("Open(\"\") = %v, want ErrInvalid", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		db := openMem(t, vfs.NewMemFS(), nil)
		defer db.Close()
		if db.Durability() != inmem.Strict || db.Dir() != testDir {
			t.Fatalf("defaults: durability %v dir %q", db.Durability(), db.Dir())
		}
	})
}

type badIDCodec string

func (c badIDCodec) ID() string                           { return string(c) }
func (badIDCodec) Encode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
func (badIDCodec) Decode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

// TestDB_EmptyValue_SurvivesReopen checks that an empty value stays an
// empty value, never a nil one (which KVHistory reports as a deletion),
// through log replay and snapshot loading, as the first value read or not.
func TestDB_EmptyValue_SurvivesReopen(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, _ := db.CreateRun("r")
	db.KVPut(run, "empty-first", nil)
	db.KVPut(run, "full", []byte("x"))
	db.KVPut(run, "empty-later", []byte{})
	db.StateSet(run, "cell", nil)
	db.EventAppend(run, nil)
	check := func(what string) {
		t.Helper()
		for _, k := range []string{"empty-first", "empty-later"} {
			h, err := db.KVHistory(run, k)
			if err != nil || len(h) != 1 || h[0].Value == nil || len(h[0].Value) != 0 {
				t.Fatalf("%s: KVHistory(%s) = %#v, %v; want one empty, non-nil value", what, k, h, err)
			}
		}
		if c, err := db.StateGet(run, "cell"); err != nil || c.Value == nil {
			t.Fatalf("%s: StateGet = %#v, %v", what, c, err)
		}
		if evs, err := db.EventRange(run, 0, 1); err != nil || len(evs) != 1 || evs[0].Payload == nil {
			t.Fatalf("%s: EventRange = %#v, %v", what, evs, err)
		}
	}
	check("live")
	for _, step := range []string{"reopen from the log", "reopen from a snapshot"} {
		if step == "reopen from a snapshot" {
			db.Checkpoint()
		}
		db.Close()
		db = openMem(t, mem, nil)
		check(step)
	}
	db.Close()
}

// TestDB_Update_PanicReleasesLock checks that a transaction function that
// panics writes nothing, lets the panic through, and leaves the database
// taking commits.
func TestDB_Update_PanicReleasesLock(t *testing.T) {
	db := openMem(t, vfs.NewMemFS(), nil) // NB: no cleanup Close: it would block too
	run, _ := db.CreateRun("r")
	last := db.LastVersion()
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the function's panic", p)
			}
		}()
		db.Update(func(tx *inmem.Tx) error {
			tx.KVPut(run, "k", []byte("v"))
			panic("boom")
		})
	}()
	if db.LastVersion() != last {
		t.Fatal("the panicking transaction committed")
	}
	done := make(chan error, 1)
	go func() { _, err := db.KVPut(run, "after", nil); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a commit after a panicking transaction blocked")
	}
	if _, err := db.KVGet(run, "k"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("the panicking transaction's write is visible: %v", err)
	}
	db.Close()
}

// TestOptions_Preparation: with PrepareInline the active segment is written
// ahead as soon as Open returns and never grows under a commit; with
// PrepareNone it holds the records and nothing more; the same workload
// reads back the same after a reopen and after a power loss with Close.
func TestOptions_Preparation(t *testing.T) {
	for _, p := range []inmem.Preparation{inmem.PrepareInline, inmem.PrepareNone} {
		t.Run(p.String(), func(t *testing.T) {
			opts := &inmem.Options{SegmentSize: 64 << 10, Preparation: p}
			db, mem := newTestDB(t, opts)
			size := func() int64 { return int64(len(files(t, mem, testDir)[segPath(1)])) }
			start := size()
			w := newWorkload(3)
			w.run(t, db, 40)
			if p == inmem.PrepareInline && (start != 64<<10 || size() != start) {
				t.Fatalf("segment 1 is %d bytes after Open and %d after the workload, want %d both times", start, size(), 64<<10)
			}
			if p == inmem.PrepareNone && start != wal.HeaderSize {
				t.Fatalf("segment 1 is %d bytes after Open, want only its %d-byte header", start, wal.HeaderSize)
			}
			db.Close()
			rep, err := inmem.Inspect(testDir, &inmem.Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			for _, seg := range rep.Segments {
				if p == inmem.PrepareNone && seg.Size != seg.ValidEnd {
					t.Fatalf("segment %d is %d bytes, its records end at %d: something was written past them", seg.Num, seg.Size, seg.ValidEnd)
				}
			}
			re := openMem(t, mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced}), opts)
			defer re.Close()
			checkModel(t, re, w.m, "a power loss after Close")
		})
	}
}

// TestTx_KeepsItsOwnCopies: a caller that reuses one buffer for every value,
// within a Tx and from commit to commit, finds every value as written, live
// and after a reopen. The Tx's copies share one buffer reused commit after
// commit (and regrown mid-Tx by the large values): none may show through.
func TestTx_KeepsItsOwnCopies(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600<<10)
	fill := func(c byte, n int) []byte {
		b := buf[:n]
		for i := range b {
			b[i] = c + byte(i%7)
		}
		return b
	}
	want, history := map[string][]byte{}, [][]byte{}
	for i, n := range []int{5, 100, 600 << 10, 3, 0, 300 << 10} {
		_, err := db.Commit(func(tx *inmem.Tx) error {
			for j, k := range []string{fmt.Sprint("new", i), "same", fmt.Sprint("other", i)} {
				v := fill(byte('a'+i+j), n)
				want[k] = bytes.Clone(v)
				if k == "same" {
					history = append(history, want[k])
				}
				if err := tx.KVPut(run, k, v); err != nil {
					return err
				}
			}
			_, err := tx.EventAppend(run, fill('z', n))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		fill('!', len(buf)) // the caller's buffer changes once more
	}
	check := func(what string) {
		t.Helper()
		for k, v := range want {
			if got := mustGet(t, db, run, k); !bytes.Equal(got.Value, v) {
				t.Fatalf("%s: %s holds %d bytes starting %q, want %d starting %q", what, k, len(got.Value), got.Value[:min(4, len(got.Value))], len(v), v[:min(4, len(v))])
			}
		}
		h, err := db.KVHistory(run, "same")
		if err != nil || len(h) != len(history) {
			t.Fatalf("%s: KVHistory(same) = %d versions, %v; want %d", what, len(h), err, len(history))
		}
		for i, v := range h {
			if !bytes.Equal(v.Value, history[i]) {
				t.Fatalf("%s: version %d of same holds %d bytes, want %d as written", what, i, len(v.Value), len(history[i]))
			}
		}
	}
	check("live")
	db.Close()
	db = openMem(t, mem, nil)
	defer db.Close()
	check("after reopen")
}
