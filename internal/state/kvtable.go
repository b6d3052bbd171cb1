package state

import (
	"hash/maphash"
	"iter"
	"unsafe"
)

// kvTable maps a run's KV keys to their chains: open addressing with linear
// probing, each slot holding the key's hash beside the key and the chain.
// It replaced a Go map, whose growth hashed every key again (reading each
// from its block: a cache miss per key) and whose new keys cost a lookup
// and then an insert, each hashing and probing: together about a third of
// a Buffered put and of recovery's replay. Here growing reads only the
// slots, a put is one probe, and a read probes the slot array and then the
// key's block (see block), which holds the chain and value too.
//
// Keys are never removed. Callers hold the run's lock: Lock to add,
// RLock to read.
type kvTable struct {
	slots []kvSlot
	n     int
	seed  maphash.Seed
}

// kvSlot is one key: a pointer to its bytes (the key string, cut in two so
// the slot takes 24 bytes, not 32), its length, the low half of its hash,
// and its chain. An empty slot has no chain.
type kvSlot struct {
	key  *byte
	klen uint32
	hash uint32
	c    *Chain
}

const minKVTable = 8

// newKVTable returns a table that holds n keys before it grows.
func newKVTable(n int) kvTable {
	size := minKVTable
	for size-size/4 < n {
		size *= 2
	}
	return kvTable{slots: make([]kvSlot, size), seed: maphash.MakeSeed()}
}

func (t *kvTable) hash(key string) uint64 { return maphash.String(t.seed, key) }

// Len returns the number of keys.
func (t *kvTable) Len() int { return t.n }

// find returns the chain of key and, if there is none, the index of the
// empty slot where key belongs, with the key's hash. A table with no slots
// yet (a run's table is made at its first key) returns index -1.
func (t *kvTable) find(key string) (*Chain, int, uint64) {
	if len(t.slots) == 0 {
		return nil, -1, 0
	}
	h := t.hash(key)
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.c == nil {
			return nil, i, h
		}
		if s.hash == uint32(h) && int(s.klen) == len(key) && unsafe.String(s.key, s.klen) == key {
			return s.c, i, h
		}
	}
}

// get returns the chain of key, or nil.
func (t *kvTable) get(key string) *Chain {
	c, _, _ := t.find(key)
	return c
}

// add stores key's chain in slot i, as find returned for key with hash h,
// growing the table first if it is three quarters full. NB: key must be the
// chain's own copy: the table keeps it.
func (t *kvTable) add(i int, h uint64, key string, c *Chain) {
	switch {
	case i < 0:
		*t = newKVTable(0)
		h = t.hash(key)
		i = t.free(h)
	case 4*(t.n+1) > 3*len(t.slots):
		t.grow()
		i = t.free(h)
	}
	t.slots[i] = kvSlot{unsafe.StringData(key), uint32(len(key)), uint32(h), c}
	t.n++
}

// put adds a key the table does not hold. NB: see add.
func (t *kvTable) put(key string, c *Chain) {
	_, i, h := t.find(key)
	t.add(i, h, key, c)
}

// free returns the first empty slot on h's probe path.
func (t *kvTable) free(h uint64) int {
	mask := len(t.slots) - 1
	i := int(h) & mask
	for t.slots[i].c != nil {
		i = (i + 1) & mask
	}
	return i
}

// grow doubles the table. A slot keeps only the low 32 bits of the hash,
// which place it in any table of up to 2^32 slots; past that the keys are
// hashed again.
func (t *kvTable) grow() {
	old := t.slots
	t.slots = make([]kvSlot, 2*len(old))
	for _, s := range old {
		if s.c == nil {
			continue
		}
		h := uint64(s.hash)
		if len(t.slots) > 1<<32 {
			h = t.hash(unsafe.String(s.key, s.klen))
		}
		t.slots[t.free(h)] = s
	}
}

// all yields every key and its chain, in no particular order.
func (t *kvTable) all() iter.Seq2[string, *Chain] {
	return func(yield func(string, *Chain) bool) {
		for _, s := range t.slots {
			if s.c != nil && !yield(unsafe.String(s.key, s.klen), s.c) {
				return
			}
		}
	}
}
