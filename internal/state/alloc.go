package state

import (
	"bytes"
	"strings"
	"unsafe"
)

// A new KV key's chain, its first entry and the bytes of its key and first
// value share one allocation, a block. A point read then finds everything
// it touches after the map's own slot in one place: the key it compares,
// the chain, the entry and the value. Apart, they were four cache misses
// per read of a large store (the key, the chain and the value each in an
// allocation of its own), and three allocations per new key.
//
// The bytes come first and the chain and entry last: the key's line then
// holds the value's start too, and a 16-byte key with a 100-byte value
// spans three lines where chain-first spanned four (point reads of the
// bench's 1M keys: 0.88x -> 0.99x the raw map's speed). A block is a typed
// struct, so the garbage collector finds its two pointer words by the
// block's type and never takes its bytes for pointers. The key and the
// value are slices of those bytes: interior pointers, which keep the block
// alive as long as either is reachable.
//
// A value replaced by a later version stays in its block while the key
// lives (keys are never removed): at most one dead value per key.
type block[B any] struct {
	data  B
	c     Chain
	first [1]Entry
}

func newBlock[B any]() (*Chain, []byte) {
	b := new(block[B])
	b.c.Entries = b.first[:0]
	return &b.c, unsafe.Slice((*byte)(unsafe.Pointer(&b.data)), unsafe.Sizeof(b.data))
}

// blockKinds lists the blocks by the bytes they hold, ascending. Each size
// is what fills one of the Go allocator's size classes (96 to 1024 bytes)
// after the chain and the entry (80 bytes on 64-bit machines): a block's
// allocation wastes nothing the allocator would not round up anyway.
var blockKinds = [...]struct {
	size  int
	alloc func() (*Chain, []byte)
}{
	{16, newBlock[[16]byte]}, {32, newBlock[[32]byte]}, {48, newBlock[[48]byte]},
	{64, newBlock[[64]byte]}, {80, newBlock[[80]byte]}, {96, newBlock[[96]byte]},
	{112, newBlock[[112]byte]}, {128, newBlock[[128]byte]}, {144, newBlock[[144]byte]},
	{160, newBlock[[160]byte]}, {176, newBlock[[176]byte]}, {208, newBlock[[208]byte]},
	{240, newBlock[[240]byte]}, {272, newBlock[[272]byte]}, {304, newBlock[[304]byte]},
	{336, newBlock[[336]byte]}, {368, newBlock[[368]byte]}, {400, newBlock[[400]byte]},
	{432, newBlock[[432]byte]}, {496, newBlock[[496]byte]}, {560, newBlock[[560]byte]},
	{624, newBlock[[624]byte]}, {688, newBlock[[688]byte]}, {816, newBlock[[816]byte]},
	{944, newBlock[[944]byte]},
}

// maxBlockData is the most bytes a block holds; a larger key and value
// are allocated apart.
const maxBlockData = 944

// blockFor maps (n+15)/16 for n bytes to the index of the smallest block
// kind holding n.
var blockFor = func() (t [maxBlockData/16 + 1]uint8) {
	k := 0
	for i := range t {
		for blockKinds[k].size < i*16 {
			k++
		}
		t[i] = uint8(k)
	}
	return t
}()

// newKeyChain returns a new chain holding e as its first entry, and key:
// both key and e.Value copied into the chain's block when they fit in one
// (see block), otherwise copied apart. The returned key is the one to store
// in the map and in the key list.
func newKeyChain(key string, e Entry) (string, *Chain) {
	n := len(key) + len(e.Value)
	if n > maxBlockData {
		e.Value = bytes.Clone(e.Value)
		c := newChain()
		c.Entries = append(c.Entries, e)
		return strings.Clone(key), c
	}
	c, data := blockKinds[blockFor[(n+15)/16]].alloc()
	copy(data, key)
	copy(data[len(key):], e.Value)
	if e.Value != nil { // NB: a nil value stays nil: it marks no value
		e.Value = data[len(key):n:n]
	}
	c.Entries = append(c.Entries, e)
	return unsafe.String(unsafe.SliceData(data), len(key)), c
}

// slab hands out small values carved from shared 64 KiB buffers: one
// allocation per slab instead of per value. Each value is capped at its
// length, so no append reaches a neighbour (stored values are never
// changed anyway), and a slab stays in memory while any value in it does.
type slab struct{ free []byte }

const (
	slabSize     = 64 << 10
	slabMaxValue = 1 << 10 // larger values are allocated alone
)

// take returns n bytes, never nil (a nil value marks no value).
func (s *slab) take(n int) []byte {
	if n == 0 || n > slabMaxValue {
		return make([]byte, n)
	}
	if len(s.free) < n {
		s.free = make([]byte, slabSize)
	}
	b := s.free[:n:n]
	s.free = s.free[n:]
	return b
}

// keep returns the copy of a value Apply keeps: alone, or packed into a
// slab while PackValues is on. NB: nil stays nil and only nil (a nil value
// marks no value; an empty one is a value).
func (s *Store) keep(b []byte) []byte {
	if len(b) == 0 || !s.pack {
		return bytes.Clone(b)
	}
	v := s.slab.take(len(b))
	copy(v, b)
	return v
}

// PackValues says whether Apply packs the values it copies (other than a
// new key's first, which goes into its block) into shared slabs instead of
// allocating each alone. A slab stays in memory while any of its values
// does, so packing suits a bounded stream of writes that mostly stay, such
// as replaying a log at open: there, one allocation per value cost the
// allocator and the garbage collector more than the rest of the replay.
// Callers serialize PackValues with Apply.
func (s *Store) PackValues(on bool) {
	s.pack = on
	if !on {
		s.slab = slab{}
	}
}
