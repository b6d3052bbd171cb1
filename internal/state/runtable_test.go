package state

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/in-mem/inmem/internal/writeset"
)

// TestRunTable_Property: every run added is found under its id after any
// number of grows, ids never added are not, and the table never passes
// half full. Some ids share a probe start on purpose.
func TestRunTable_Property(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	tab := newRunTable(0)
	added := map[[16]byte]*Run{}
	for i := range 5000 {
		var id [16]byte
		for j := range id {
			id[j] = byte(rng.UintN(256))
		}
		if i%7 == 0 { // same halves XORed: collide in slot
			id = [16]byte{byte(i), byte(i >> 8)}
		}
		if added[id] != nil {
			continue
		}
		r := newRun(id, fmt.Sprint(i), uint64(i+1), 0)
		tab = tab.with(r)
		added[id] = r
		if 2*tab.n > len(tab.slots) {
			t.Fatalf("table of %d slots holds %d runs", len(tab.slots), tab.n)
		}
		if i%500 == 0 {
			for id, r := range added {
				if got := tab.get(id); got != r {
					t.Fatalf("after %d adds: get(%x) = %v, want run %q", i, id, got, r.Name)
				}
			}
		}
	}
	for range 1000 {
		id := [16]byte{0xff, byte(rng.UintN(256)), byte(rng.UintN(256)), 0xee}
		if added[id] == nil && tab.get(id) != nil {
			t.Fatalf("get(%x) found a run never added", id)
		}
	}
}

// TestStore_RunLookupDuringGrowth: readers look runs up without a lock
// while a writer adds runs and the table grows; a reader finds every run
// whose creation it saw published (run with -race).
func TestStore_RunLookupDuringGrowth(t *testing.T) {
	s := New()
	var published sync.Map // the published runs, by creation order
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				published.Range(func(k, v any) bool {
					if _, ok := s.Run(v.([16]byte), Latest); !ok {
						t.Errorf("run %d published but not found", k)
						return false
					}
					return true
				})
			}
		}()
	}
	for i := 1; i <= 3000; i++ {
		id := [16]byte{byte(i), byte(i >> 8), 7}
		if err := s.Apply(uint64(i), 0, []writeset.Mutation{create(id, fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
		published.Store(i, id)
	}
	close(stop)
	wg.Wait()
}
