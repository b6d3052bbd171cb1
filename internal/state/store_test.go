package state

import (
	"bytes"
	"errors"
	"github.com/in-mem/inmem/internal/testutil"
	"slices"
	"testing"
	"time"

	"github.com/in-mem/inmem/internal/writeset"
)

var (
	update = testutil.Update
)

func testSeed(t *testing.T) uint64 { return testutil.Seed(t, "./internal/state") }

var (
	runA = [16]byte{'r', 'u', 'n', 'A', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	runB = [16]byte{'r', 'u', 'n', 'B', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	runC = [16]byte{'r', 'u', 'n', 'C', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}
	runD = [16]byte{'r', 'u', 'n', 'D'}
)

// Mutation builders.
func create(id [16]byte, name string) writeset.Mutation {
	return writeset.Mutation{Kind: writeset.CreateRun, Run: id, Key: name}
}
func put(id [16]byte, k, v string) writeset.Mutation {
	return writeset.Mutation{Kind: writeset.KVPut, Run: id, Key: k, Value: []byte(v)}
}
func del(id [16]byte, k string) writeset.Mutation {
	return writeset.Mutation{Kind: writeset.KVDelete, Run: id, Key: k}
}
func event(id [16]byte, seq uint64, v string) writeset.Mutation {
	return writeset.Mutation{Kind: writeset.EventAppend, Run: id, Value: []byte(v), Seq: seq}
}
func cell(id [16]byte, name, v string) writeset.Mutation {
	return writeset.Mutation{Kind: writeset.StateSet, Run: id, Key: name, Value: []byte(v)}
}
func retain(id [16]byte, p Policy) writeset.Mutation {
	return writeset.Mutation{Kind: writeset.SetRetention, Run: id, Value: EncodePolicy(p)}
}

// baseTS is a fixed commit time (µs): version v commits at baseTS + v s.
const baseTS = int64(1_764_000_000_000_000)

func tsOf(v uint64) int64 { return baseTS + int64(v)*1_000_000 }

func apply(t testing.TB, s *Store, txn uint64, ms ...writeset.Mutation) {
	t.Helper()
	if err := s.Apply(txn, tsOf(txn), ms); err != nil {
		t.Fatalf("Apply(%d): %v", txn, err)
	}
}

// history is the commit history of the populated store.
func history() [][]writeset.Mutation {
	return [][]writeset.Mutation{
		1: {create(runA, "alpha")},
		2: {put(runA, "k1", "v1"), put(runA, "k2", "x"), event(runA, 0, "e0")},
		3: {put(runA, "k1", "v2"), cell(runA, "cell", "c1"), create(runB, "beta"), put(runB, "bk", "bv"), event(runB, 0, "b0")},
		4: {del(runA, "k2"), event(runA, 1, "e1"), event(runA, 2, "e2"), retain(runA, Policy{Kind: KeepLast, N: 2})},
		5: {put(runA, "k1", "v3"), cell(runA, "cell", "c2"), cell(runA, "other", ""), put(runA, "empty", "")},
		6: {put(runB, "bk", "bv2"), retain(runB, Policy{Kind: KeepFor, D: time.Hour}), retain(runA, Policy{Kind: KeepAll})},
	}
}

// populated returns a deterministic store holding every kind of entry: runs,
// KV history with a tombstone and a trim mark, events, cells and retention.
func populated(t testing.TB) *Store {
	t.Helper()
	s := New()
	for txn, ms := range history() {
		if txn == 0 {
			continue
		}
		apply(t, s, uint64(txn), ms...)
		if txn == 5 {
			// k1 holds v1@2, v2@3, v3@5: keep the last two.
			if n := s.Trim(runA, Policy{Kind: KeepLast, N: 2}, 5, tsOf(5)); n != 1 {
				t.Fatalf("Trim removed %d versions, want 1", n)
			}
		}
	}
	return s
}

// encoded is the store's snapshot stream at version at.
func encoded(t testing.TB, s *Store, at uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.EncodeSnapshot(&buf, at); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// populatedAlpha returns run A, "alpha", of the populated store.
func populatedAlpha(t *testing.T) *Run {
	t.Helper()
	a, ok := populated(t).Run(runA, Latest)
	if !ok {
		t.Fatalf("Run(A) missing")
	}
	return a
}

// TestStore_Runs: the populated store's last version, and its runs by id
// and by name, each visible from the version that created it.
func TestStore_Runs(t *testing.T) {
	s := populated(t)
	if s.Last() != 6 {
		t.Fatalf("Last = %d", s.Last())
	}
	a, ok := s.Run(runA, Latest)
	if !ok || a.Name != "alpha" || a.Version != 1 || a.TS != tsOf(1) {
		t.Fatalf("Run(A) = %+v, %v", a, ok)
	}
	if _, ok := s.Run(runB, 2); ok {
		t.Fatalf("run B visible at 2, created at 3")
	}
	if r, ok := s.RunByName("beta", 3); !ok || r.ID != runB {
		t.Fatalf("RunByName(beta, 3) = %v, %v", r, ok)
	}
	if names := runNames(s.Runs(2)); !slices.Equal(names, []string{"alpha"}) {
		t.Fatalf("Runs(2) = %v", names)
	}
	if names := runNames(s.Runs(Latest)); !slices.Equal(names, []string{"alpha", "beta"}) {
		t.Fatalf("Runs = %v", names)
	}
}

// kvAt is run a's value of key at version at, or "absent" or "deleted".
func kvAt(a *Run, key string, at uint64) string {
	e, _, ok := a.KV(key, at)
	switch {
	case !ok:
		return "absent"
	case e.Deleted:
		return "deleted"
	}
	return string(e.Value)
}

// TestStore_KV: KV reads at several versions, where the trimmed version is
// gone and a deleted key reads as deleted; the history of a key and the
// live keys at a version.
func TestStore_KV(t *testing.T) {
	a := populatedAlpha(t)
	for _, c := range []struct {
		key  string
		at   uint64
		want string
	}{
		{"k1", 1, "absent"}, {"k1", 2, "absent" /* trimmed */}, {"k1", 3, "v2"}, {"k1", 4, "v2"}, {"k1", 5, "v3"},
		{"k2", 3, "x"}, {"k2", 4, "deleted"}, {"nope", Latest, "absent"}, {"empty", Latest, ""},
	} {
		if got := kvAt(a, c.key, c.at); got != c.want {
			t.Errorf("KV(%s, %d) = %s, want %s", c.key, c.at, got, c.want)
		}
	}
	hist, trimmed := a.KVHistory("k1", Latest)
	if len(hist) != 2 || trimmed != 3 || string(hist[0].Value) != "v2" || hist[1].Version != 5 {
		t.Fatalf("KVHistory(k1) = %+v trimmed %d", hist, trimmed)
	}
	if keys := a.KVKeys("", Latest); !slices.Equal(keys, []string{"empty", "k1"}) {
		t.Fatalf("KVKeys = %v (k2 is deleted)", keys)
	}
	if keys := a.KVKeys("k", 3); !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("KVKeys(k, 3) = %v", keys)
	}
}

// TestStore_Events: a run's events are a prefix by version, read by a
// range of sequence numbers; an empty range reads nothing.
func TestStore_Events(t *testing.T) {
	a := populatedAlpha(t)
	if n := a.EventCount(3); n != 1 {
		t.Fatalf("EventCount(3) = %d", n)
	}
	evs := a.Events(0, 10, Latest)
	if len(evs) != 3 || string(evs[2].Payload) != "e2" || evs[2].Seq != 2 || evs[2].Version != 4 {
		t.Fatalf("Events = %+v", evs)
	}
	if evs := a.Events(1, 2, Latest); len(evs) != 1 || evs[0].Seq != 1 {
		t.Fatalf("Events(1, 2) = %+v", evs)
	}
	if evs := a.Events(2, 1, Latest); evs != nil {
		t.Fatalf("Events(2, 1) = %+v", evs)
	}
}

// TestStore_Cells: a cell's value and the cell names at a version.
func TestStore_Cells(t *testing.T) {
	a := populatedAlpha(t)
	if e, ok := a.Cell("cell", 4); !ok || string(e.Value) != "c1" {
		t.Fatalf("Cell(cell, 4) = %+v, %v", e, ok)
	}
	if names := a.CellNames(4); !slices.Equal(names, []string{"cell"}) {
		t.Fatalf("CellNames(4) = %v", names)
	}
	if names := a.CellNames(Latest); !slices.Equal(names, []string{"cell", "other"}) {
		t.Fatalf("CellNames = %v", names)
	}
}

// TestStore_Retention: a run's retention is the newest policy at a
// version; an unknown run has none.
func TestStore_Retention(t *testing.T) {
	s := populated(t)
	if e, ok := s.Retention(runA, 5); !ok || e.Version != 4 {
		t.Fatalf("Retention(A, 5) = %+v, %v", e, ok)
	}
	if e, ok := s.Retention(runA, Latest); !ok {
		t.Fatalf("Retention(A) missing")
	} else if p, err := DecodePolicy(e.Value); err != nil || p.Kind != KeepAll {
		t.Fatalf("Retention(A) = %+v, %v", p, err)
	}
	if _, ok := s.Retention(runC, Latest); ok {
		t.Fatalf("Retention of an unknown run")
	}
}

// TestStore_Counts: the populated store's counts of runs, live keys, KV
// versions, events and cells.
func TestStore_Counts(t *testing.T) {
	s := populated(t)
	runs, keys, versions, events, cells := s.Counts(Latest)
	if runs != 2 || keys != 4 || versions != 7 || events != 4 || cells != 2 {
		t.Fatalf("Counts = %d runs %d keys %d versions %d events %d cells", runs, keys, versions, events, cells)
	}
}

func runNames(rs []*Run) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// TestApply_Rejects: a writeset that does not fit the state is refused
// whole, and changes nothing.
func TestApply_Rejects(t *testing.T) {
	tcs := []struct {
		name string
		txn  uint64
		ms   []writeset.Mutation
	}{
		{"version equal to the last", 6, []writeset.Mutation{put(runA, "k", "v")}},
		{"version below the last", 3, []writeset.Mutation{put(runA, "k", "v")}},
		{"version zero", 0, []writeset.Mutation{put(runA, "k", "v")}},
		{"unknown run", 7, []writeset.Mutation{put(runC, "k", "v")}},
		{"event to an unknown run", 7, []writeset.Mutation{event(runC, 0, "e")}},
		{"cell of an unknown run", 7, []writeset.Mutation{cell(runC, "c", "v")}},
		{"retention of an unknown run", 7, []writeset.Mutation{retain(runC, Policy{Kind: KeepLast, N: 1})}},
		{"duplicate run id", 7, []writeset.Mutation{create(runA, "other")}},
		{"duplicate run name", 7, []writeset.Mutation{create(runC, "alpha")}},
		{"one id created twice", 7, []writeset.Mutation{create(runC, "gamma"), create(runC, "delta")}},
		{"one name created twice", 7, []writeset.Mutation{create(runC, "gamma"), create(runD, "gamma")}},
		{"run without a name", 7, []writeset.Mutation{create(runC, "")}},
		{"event sequence gap", 7, []writeset.Mutation{event(runA, 4, "e")}},
		{"event sequence repeated", 7, []writeset.Mutation{event(runA, 2, "e")}},
		{"event sequence repeated in one writeset", 7, []writeset.Mutation{event(runA, 3, "e"), event(runA, 3, "f")}},
		{"event sequence out of order in one writeset", 7, []writeset.Mutation{event(runA, 4, "e"), event(runA, 3, "f")}},
		{"new run's events not from 0", 7, []writeset.Mutation{create(runC, "gamma"), event(runC, 1, "e")}},
		{"valid mutations then an invalid one", 7, []writeset.Mutation{put(runA, "k1", "v4"), event(runA, 3, "e3"), create(runC, "gamma"), put(runD, "k", "v")}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			s := populated(t)
			before := encoded(t, s, Latest)
			err := s.Apply(tc.txn, tsOf(tc.txn), tc.ms)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Apply = %v, want ErrInvalid", err)
			}
			if s.Last() != 6 {
				t.Fatalf("Last moved to %d", s.Last())
			}
			if after := encoded(t, s, Latest); !bytes.Equal(before, after) {
				t.Fatalf("a refused writeset changed the store")
			}
			if _, ok := s.Run(runC, Latest); ok {
				t.Fatalf("a refused writeset created a run")
			}
		})
	}
}

// TestApply_NewRunInSameWriteset: a writeset may create a run and write to
// it, events starting at 0.
func TestApply_NewRunInSameWriteset(t *testing.T) {
	s := populated(t)
	apply(t, s, 7, create(runC, "gamma"), put(runC, "k", "v"), event(runC, 0, "a"), event(runC, 1, "b"),
		cell(runC, "c", "x"), retain(runC, Policy{Kind: KeepLast, N: 3}), event(runA, 3, "e3"))
	c, ok := s.Run(runC, 7)
	if !ok || c.EventCount(7) != 2 {
		t.Fatalf("run C: %v, %v", c, ok)
	}
	if _, ok := s.Run(runC, 6); ok {
		t.Fatalf("run C visible before its version")
	}
	if a, _ := s.Run(runA, Latest); a.EventCount(Latest) != 4 {
		t.Fatalf("run A events %d", a.EventCount(Latest))
	}
}

// TestApply_CellFloor: cells forget values no reader can see any more: the
// ones older than the newest at or below the floor.
func TestApply_CellFloor(t *testing.T) {
	s := New()
	apply(t, s, 1, create(runA, "a"))
	apply(t, s, 2, cell(runA, "c", "v2"))
	apply(t, s, 3, cell(runA, "c", "v3"))
	r, _ := s.Run(runA, Latest)
	if e, ok := r.Cell("c", 2); !ok || string(e.Value) != "v2" {
		t.Fatalf("floor 0 pruned: %+v %v", e, ok)
	}
	s.SetFloor(3)
	apply(t, s, 4, cell(runA, "c", "v4"))
	if _, ok := r.Cell("c", 2); ok {
		t.Fatalf("value below the floor kept")
	}
	for at, want := range map[uint64]string{3: "v3", 4: "v4"} {
		if e, ok := r.Cell("c", at); !ok || string(e.Value) != want {
			t.Fatalf("Cell(c, %d) = %+v %v, want %s", at, e, ok, want)
		}
	}
}

func TestPolicy_RoundTrip(t *testing.T) {
	for _, p := range []Policy{{Kind: KeepAll}, {Kind: KeepLast, N: 1}, {Kind: KeepLast, N: 1 << 40},
		{Kind: KeepFor, D: time.Microsecond}, {Kind: KeepFor, D: 90 * 24 * time.Hour}} {
		got, err := DecodePolicy(EncodePolicy(p))
		if err != nil || got != p {
			t.Errorf("round trip of %+v: %+v, %v", p, got, err)
		}
	}
}

func TestDecodePolicy_Rejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":              nil,
		"two bytes":          {KeepLast, 1},
		"unknown kind":       {3, 0, 0},
		"KeepLast(0)":        {KeepLast, 0, 0},
		"KeepFor(0)":         {KeepFor, 0, 0},
		"KeepFor negative":   {KeepFor, 0, 1},
		"trailing byte":      {KeepLast, 1, 0, 0},
		"unterminated count": {KeepLast, 0x80, 0x80},
		"duration cut":       {KeepFor, 0, 0x80},
	} {
		if p, err := DecodePolicy(b); err == nil {
			t.Errorf("%s: DecodePolicy(% x) = %+v", name, b, p)
		}
	}
}

// TestTrim: each policy keeps what it says among the published versions,
// always the newest of them, never an unpublished one, and sets the trim
// mark to the oldest version kept.
func TestTrim(t *testing.T) {
	tcs := []struct {
		name     string
		p        Policy
		at       uint64
		nowV     uint64 // now is tsOf(nowV)
		want     []uint64
		trimmed  uint64
		removed  int
		otherRun bool
	}{
		{name: "KeepAll", p: Policy{Kind: KeepAll}, at: 6, nowV: 6, want: []uint64{2, 3, 4, 5, 6}},
		{name: "KeepLast 2", p: Policy{Kind: KeepLast, N: 2}, at: 6, nowV: 6, want: []uint64{5, 6}, trimmed: 5, removed: 3},
		{name: "KeepLast 1", p: Policy{Kind: KeepLast, N: 1}, at: 6, nowV: 6, want: []uint64{6}, trimmed: 6, removed: 4},
		{name: "KeepLast more than held", p: Policy{Kind: KeepLast, N: 9}, at: 6, nowV: 6, want: []uint64{2, 3, 4, 5, 6}},
		{name: "KeepLast ignores unpublished", p: Policy{Kind: KeepLast, N: 1}, at: 4, nowV: 6, want: []uint64{4, 5, 6}, trimmed: 4, removed: 2},
		{name: "KeepFor 2.5s", p: Policy{Kind: KeepFor, D: 2500 * time.Millisecond}, at: 6, nowV: 6, want: []uint64{4, 5, 6}, trimmed: 4, removed: 2},
		{name: "KeepFor boundary is kept", p: Policy{Kind: KeepFor, D: 2 * time.Second}, at: 6, nowV: 6, want: []uint64{4, 5, 6}, trimmed: 4, removed: 2},
		{name: "KeepFor keeps the newest", p: Policy{Kind: KeepFor, D: time.Second}, at: 6, nowV: 100, want: []uint64{6}, trimmed: 6, removed: 4},
		{name: "KeepFor keeps the newest published", p: Policy{Kind: KeepFor, D: time.Second}, at: 3, nowV: 100, want: []uint64{3, 4, 5, 6}, trimmed: 3, removed: 1},
		{name: "unknown run", p: Policy{Kind: KeepLast, N: 1}, at: 6, nowV: 6, want: []uint64{2, 3, 4, 5, 6}, otherRun: true},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			apply(t, s, 1, create(runA, "a"))
			for v := uint64(2); v <= 6; v++ {
				apply(t, s, v, put(runA, "k", "v"), put(runA, "only", "once"))
				if v > 2 {
					s.Trim(runA, Policy{Kind: KeepAll}, v, tsOf(v)) // a no-op
				}
			}
			id := runA
			if tc.otherRun {
				id = runC
			}
			removed := s.Trim(id, tc.p, tc.at, tsOf(tc.nowV))
			r, _ := s.Run(runA, Latest)
			hist, trimmed := r.KVHistory("k", Latest)
			var got []uint64
			for _, e := range hist {
				got = append(got, e.Version)
			}
			if !slices.Equal(got, tc.want) || trimmed != tc.trimmed {
				t.Fatalf("kept %v trimmed %d, want %v trimmed %d", got, trimmed, tc.want, tc.trimmed)
			}
			// "only" was put at every version too: it is trimmed alike.
			if removed != 2*tc.removed {
				t.Fatalf("removed %d, want %d", removed, 2*tc.removed)
			}
		})
	}
}

// TestApply_SameKeyTwice: a writeset that writes one key twice keeps its
// last write, one version, and the store still snapshots and reloads.
func TestApply_SameKeyTwice(t *testing.T) {
	s := populated(t)
	apply(t, s, 7, put(runA, "dup", "first"), put(runA, "dup", "second"), put(runA, "k1", "v4"), del(runA, "k1"))
	a, _ := s.Run(runA, Latest)
	hist, _ := a.KVHistory("dup", Latest)
	if len(hist) != 1 || string(hist[0].Value) != "second" || hist[0].Version != 7 {
		t.Fatalf("dup history %+v", hist)
	}
	hist, _ = a.KVHistory("k1", Latest)
	if n := len(hist); n != 3 || !hist[n-1].Deleted || hist[n-1].Version != 7 || hist[n-2].Version != 5 {
		t.Fatalf("k1 history %+v", hist)
	}
	b := encoded(t, s, 7)
	dec, _, err := DecodeSnapshot(bytes.NewReader(b), 7, testMaxValue)
	if err != nil {
		t.Fatalf("snapshot of a store with a key written twice in one commit: %v", err)
	}
	if !bytes.Equal(encoded(t, dec, 7), b) {
		t.Fatalf("round trip differs")
	}
}
