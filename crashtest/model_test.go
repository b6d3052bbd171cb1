package crashtest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

// memDB opens a database on fsys, failing the test on error.
func memDB(t *testing.T, fsys vfs.FS) *inmem.DB {
	t.Helper()
	db, err := inmem.Open("db", &inmem.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// entities returns the entities mismatches name.
func entities(ms []crashtest.StateMismatch) string {
	var names []string
	for _, m := range ms {
		names = append(names, m.Entity)
	}
	return strings.Join(names, " ")
}

var strict = crashtest.Promise{Durability: inmem.Strict}

// retained writes three versions of a key under KeepLast(1), through a
// runner on a model of its own, and compacts fully if compact is set.
func retained(t *testing.T, compact bool) (*inmem.DB, *crashtest.ReferenceModel) {
	t.Helper()
	db := memDB(t, vfs.NewMemFS())
	t.Cleanup(func() { db.Close() })
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	for _, w := range []crashtest.Write{crashtest.Retain("r", 1), crashtest.Put("r", "k", []byte("a")), crashtest.Put("r", "k", []byte("b"))} {
		if err := r.Update(w); err != nil {
			t.Fatal(err)
		}
	}
	if compact {
		if err := r.Compact(inmem.CompactFull); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Update(crashtest.Put("r", "k", []byte("c"))); err != nil {
		t.Fatal(err)
	}
	return db, m
}

// TestReferenceModel_Retention: a full compaction the runner ran trims
// exactly where it ran; without one nothing may be trimmed; one the model
// cannot place (recorded from outside the runner) may have trimmed.
func TestReferenceModel_Retention(t *testing.T) {
	trimmed, withCompaction := retained(t, true)
	whole, without := retained(t, false)
	if ms := withCompaction.Compare(trimmed, strict); ms != nil {
		t.Fatal(ms)
	}
	if ms := without.Compare(whole, strict); ms != nil {
		t.Fatal(ms)
	}
	// The other database's run has another id: "run:r" differs too.
	if got := entities(withCompaction.Compare(whole, strict)); got != "run:r kv:r/k" {
		t.Fatalf("an untrimmed history after a full compaction: mismatches %q, want kv:r/k", got)
	}
	if got := entities(without.Compare(trimmed, strict)); got != "run:r kv:r/k" {
		t.Fatalf("a trimmed history without a compaction: mismatches %q, want kv:r/k", got)
	}
	_, unseen := retained(t, false)
	unseen.AllowUnseenCompactions()
	without.Ack(without.Begin(crashtest.Op{Kind: crashtest.OpCompact, Mode: inmem.CompactFull}), 0, nil)
	for what, m := range map[string]*crashtest.ReferenceModel{"placed nowhere": without, "unseen": unseen} {
		if got := entities(m.Compare(trimmed, strict)); got != "run:r" {
			t.Errorf("a compaction %s may have trimmed: mismatches %q, want run:r", what, got)
		}
	}
}

// TestReferenceModel_AckedSequenceNumbers: an append acknowledged with a
// sequence number other than the one it has in version order is a mismatch.
func TestReferenceModel_AckedSequenceNumbers(t *testing.T) {
	db := memDB(t, vfs.NewMemFS())
	defer db.Close()
	if err := crashtest.NewRunner(db, crashtest.NewReferenceModel()).EventAppend("r", []byte("e")); err != nil {
		t.Fatal(err)
	}
	m := crashtest.NewReferenceModel()
	op := m.Begin(crashtest.Op{Kind: crashtest.OpWrite, Writes: []crashtest.Write{crashtest.Append("r", []byte("e"))}})
	m.Ack(op, 1, []uint64{1})
	if got := entities(m.Compare(db, strict)); got != "op#0" {
		t.Fatalf("mismatches %q, want op#0", got)
	}
}

// TestReferenceModel_Predict checks the failures the model predicts, and
// that the runner finds the database agreeing.
func TestReferenceModel_Predict(t *testing.T) {
	db := memDB(t, vfs.NewMemFS())
	defer db.Close()
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	r.Update(crashtest.Put("r", "k", []byte("v")), crashtest.Set("r", "c", nil))
	tcs := []struct {
		name   string
		writes []crashtest.Write
		want   error
	}{
		{"delete of a missing key", []crashtest.Write{crashtest.Delete("r", "gone")}, inmem.ErrNotFound},
		{"key deleted earlier", []crashtest.Write{crashtest.Delete("r", "k"), crashtest.Delete("r", "k")}, inmem.ErrNotFound},
		{"stale CAS", []crashtest.Write{crashtest.CAS("r", "c", 3, nil)}, &inmem.VersionMismatchError{Cell: "c", Expected: 3, Actual: 1}},
		{"CAS after a set", []crashtest.Write{crashtest.Set("r", "d", nil), crashtest.CAS("r", "d", 0, nil)}, &inmem.VersionMismatchError{Cell: "d", Expected: 0, Actual: 2}},
		{"existing run", []crashtest.Write{crashtest.CreateRun("r")}, inmem.ErrRunExists},
		{"run written first", []crashtest.Write{crashtest.Put("new", "k", nil), crashtest.CreateRun("new")}, inmem.ErrRunExists},
		{"new run", []crashtest.Write{crashtest.CreateRun("empty")}, nil},
		{"current CAS", []crashtest.Write{crashtest.CASCurrent("r", "c", []byte("x"))}, nil},
	}
	for _, tc := range tcs {
		_, got := m.Predict(tc.writes)
		var want *inmem.VersionMismatchError
		if errors.As(tc.want, &want) {
			var vm *inmem.VersionMismatchError
			if !errors.As(got, &vm) || *vm != *want {
				t.Errorf("%s: predicted %v, want %v", tc.name, got, tc.want)
			}
		} else if !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%s: predicted %v, want %v", tc.name, got, tc.want)
		}
		r.Update(tc.writes...)
	}
	if ms := r.Mismatches(); ms != nil {
		t.Fatalf("the database disagrees with the predictions: %v", ms)
	}
	if ms := m.Compare(db, strict); ms != nil {
		t.Fatal(ms)
	}
}

// TestReferenceModel_RunIDs: a run the runner saw created must keep its id.
func TestReferenceModel_RunIDs(t *testing.T) {
	m := crashtest.NewReferenceModel()
	db := memDB(t, vfs.NewMemFS())
	defer db.Close()
	other := memDB(t, vfs.NewMemFS())
	defer other.Close()
	for _, r := range []*crashtest.ScenarioRunner{crashtest.NewRunner(db, m), crashtest.NewRunner(other, crashtest.NewReferenceModel())} {
		if err := r.KVPut("r", "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	p := crashtest.Promise{Durability: inmem.Strict}
	if ms := m.Compare(db, p); ms != nil {
		t.Fatal(ms)
	}
	if got := entities(m.Compare(other, p)); got != "run:r" {
		t.Fatalf("a run with another id: mismatches %q, want run:r", got)
	}
}
