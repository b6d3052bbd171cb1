package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/in-mem/inmem/internal/writeset"
)

// model is what validation needs to know of a store: which runs exist, by
// id and by name, and how many events each holds.
type model struct {
	names  map[[16]byte]string
	byName map[string][16]byte
	events map[[16]byte]uint64
}

// valid says whether ms fits the model, the way Apply must decide.
func (m *model) valid(ms []writeset.Mutation) bool {
	names := map[string]bool{}
	ids := map[[16]byte]bool{}
	events := map[[16]byte]uint64{}
	for _, x := range ms {
		_, exists := m.names[x.Run]
		if x.Kind == writeset.CreateRun {
			_, taken := m.byName[x.Key]
			if x.Key == "" || exists || taken || ids[x.Run] || names[x.Key] {
				return false
			}
			ids[x.Run], names[x.Key] = true, true
			continue
		}
		if !exists && !ids[x.Run] {
			return false
		}
		if x.Kind == writeset.EventAppend {
			if x.Seq != m.events[x.Run]+events[x.Run] {
				return false
			}
			events[x.Run]++
		}
	}
	return true
}

func (m *model) apply(ms []writeset.Mutation) {
	for _, x := range ms {
		switch x.Kind {
		case writeset.CreateRun:
			m.names[x.Run], m.byName[x.Key] = x.Key, x.Run
		case writeset.EventAppend:
			m.events[x.Run]++
		}
	}
}

// randomWriteset draws mutations that are valid most of the time: known
// runs, the next event numbers, and now and then a wrong one.
func randomWriteset(rng *rand.Rand, m *model) []writeset.Mutation {
	ids := [][16]byte{runA, runB, runC, runD}
	names := []string{"alpha", "beta", "gamma", "delta", ""}
	var ms []writeset.Mutation
	pending := map[[16]byte]uint64{}
	for range 1 + rng.IntN(4) {
		id := ids[rng.IntN(len(ids))]
		x := writeset.Mutation{Run: id, Key: fmt.Sprintf("k%d", rng.IntN(5)), Value: []byte(fmt.Sprintf("v%d", rng.IntN(1000)))}
		switch rng.IntN(7) {
		case 0:
			x.Kind, x.Key, x.Value = writeset.CreateRun, names[rng.IntN(len(names))], nil
		case 1:
			x.Kind = writeset.KVPut
		case 2:
			x.Kind, x.Value = writeset.KVDelete, nil
		case 3, 4:
			x.Kind, x.Key = writeset.EventAppend, ""
			x.Seq = m.events[id] + pending[id]
			if rng.IntN(8) == 0 {
				x.Seq += uint64(rng.IntN(3)) - 1 + 2*uint64(rng.IntN(2))
			}
			pending[id]++
		case 5:
			x.Kind = writeset.StateSet
		case 6:
			x.Kind, x.Key, x.Value = writeset.SetRetention, "", EncodePolicy(Policy{Kind: KeepLast, N: 1 + uint64(rng.IntN(3))})
		}
		ms = append(ms, x)
	}
	return ms
}

// TestStore_Property: seeded random writesets, some invalid, against a
// model of validation; now and then a snapshot at a random published
// version must equal the store rebuilt from the accepted commits up to it.
func TestStore_Property(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	s := New()
	m := &model{names: map[[16]byte]string{}, byName: map[string][16]byte{}, events: map[[16]byte]uint64{}}
	var accepted [][]writeset.Mutation // accepted[v] is the writeset of version v
	accepted = append(accepted, nil)
	var refused int
	for step := range 400 {
		ms := randomWriteset(rng, m)
		txn := uint64(len(accepted))
		want := m.valid(ms)
		err := s.Apply(txn, tsOf(txn), ms)
		if want != (err == nil) || err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("step %d (seed %d): Apply(%d, %+v) = %v, model says valid=%v", step, seed, txn, ms, err, want)
		}
		if err != nil {
			refused++
			continue
		}
		m.apply(ms)
		accepted = append(accepted, ms)
		if step%40 == 39 {
			checkPointInTime(t, s, accepted, uint64(1+rng.IntN(len(accepted)-1)), seed)
		}
	}
	t.Logf("%d commits accepted, %d refused", len(accepted)-1, refused)
	if refused == 0 || len(accepted) < 20 {
		t.Fatalf("the workload did not mix valid and invalid writesets")
	}
}

func checkPointInTime(t *testing.T, s *Store, accepted [][]writeset.Mutation, at uint64, seed uint64) {
	t.Helper()
	prefix := New()
	for v := uint64(1); v <= at; v++ {
		apply(t, prefix, v, accepted[v]...)
	}
	snap := encoded(t, s, at)
	if !bytes.Equal(snap, encoded(t, prefix, at)) {
		t.Fatalf("seed %d: snapshot at %d differs from the store of commits 1..%d", seed, at, at)
	}
	dec, _, err := DecodeSnapshot(bytes.NewReader(snap), at, testMaxValue)
	if err != nil || !bytes.Equal(encoded(t, dec, at), snap) {
		t.Fatalf("seed %d: snapshot at %d does not round-trip: %v", seed, at, err)
	}
	checkLatest(t, s, at, seed)
	checkLatest(t, dec, at, seed)
}

// checkLatest: the one-lookup read of the latest version (KVLatest) agrees
// with the chain's (KV) for every key of every run, at version at.
func checkLatest(t *testing.T, s *Store, at uint64, seed uint64) {
	t.Helper()
	var visible atomic.Uint64
	visible.Store(at)
	for _, r := range s.Runs(at) {
		for k := range 5 {
			key := fmt.Sprintf("k%d", k)
			e, _, ok := r.KV(key, at)
			live := ok && !e.Deleted
			v, ver, got := r.KVLatest(key, &visible)
			if got != live || live && (ver != e.Version || !bytes.Equal(v, e.Value)) {
				t.Fatalf("seed %d: run %s key %s at %d: KVLatest %q v%d %v, KV %+v %v", seed, r.Name, key, at, v, ver, got, e, ok)
			}
		}
	}
}
