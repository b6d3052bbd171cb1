package state

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// runTable maps run ids to runs for the read path, without a lock: an
// open-addressing hash table (linear probing) that only grows. Runs are
// never removed, so a slot, once set, never changes. The single writer
// (holding Store.mu) fills an empty slot with an atomic store, and when the
// table would pass half full it builds one twice the size and publishes it
// whole; a reader probes whatever table it loaded. Adding a run costs O(1)
// amortized, where copying a map per new run cost O(runs).
//
// NB: a reader that loaded a table before a grow misses the runs added to
// the new one only. Those were added after it loaded the table, so after it
// loaded the version it reads at: they are not visible to it anyway.
type runTable struct {
	slots []atomic.Pointer[Run]
	shift uint // 64 - log2(len(slots))
	n     int  // runs held; guarded by Store.mu
}

const minRunTable = 16

func newRunTable(size int) *runTable {
	size = max(minRunTable, 1<<bits.Len(uint(size-1)))
	return &runTable{slots: make([]atomic.Pointer[Run], size), shift: uint(64 - bits.Len(uint(size-1)))}
}

// slot returns where the probe for id starts. Run ids are random, so mixing
// their two halves (Fibonacci hashing) spreads them well.
func (t *runTable) slot(id *[16]byte) int {
	h := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	return int((h * 0x9e3779b97f4a7c15) >> t.shift)
}

// get returns the run with id, or nil.
func (t *runTable) get(id [16]byte) *Run {
	mask := len(t.slots) - 1
	for i := t.slot(&id); ; i = (i + 1) & mask {
		r := t.slots[i].Load()
		if r == nil || r.ID == id {
			return r
		}
	}
}

// put stores a run whose id the table does not hold. It never fills the
// table past half, so every probe ends at an empty slot.
func (t *runTable) put(r *Run) {
	mask := len(t.slots) - 1
	i := t.slot(&r.ID)
	for t.slots[i].Load() != nil {
		i = (i + 1) & mask
	}
	t.slots[i].Store(r)
	t.n++
}

// with returns t with r added: t itself, or, if t is half full, a table
// twice the size holding t's runs and r. Called with Store.mu held.
func (t *runTable) with(r *Run) *runTable {
	if 2*(t.n+1) <= len(t.slots) {
		t.put(r)
		return t
	}
	bigger := newRunTable(2 * len(t.slots))
	for i := range t.slots {
		if old := t.slots[i].Load(); old != nil {
			bigger.put(old)
		}
	}
	bigger.put(r)
	return bigger
}
