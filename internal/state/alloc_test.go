package state

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/in-mem/inmem/internal/writeset"
	"pgregory.net/rapid"
)

// TestBlockFor: every size up to maxBlockData gets the smallest block kind
// that holds it.
func TestBlockFor(t *testing.T) {
	for n := 0; n <= maxBlockData; n++ {
		k := blockFor[(n+15)/16]
		if blockKinds[k].size < n {
			t.Fatalf("%d bytes: kind %d holds only %d", n, k, blockKinds[k].size)
		}
		if k > 0 && blockKinds[k-1].size >= n {
			t.Fatalf("%d bytes: kind %d (%d bytes) chosen, kind %d (%d bytes) holds it", n, k, blockKinds[k].size, k-1, blockKinds[k-1].size)
		}
	}
	if last := blockKinds[len(blockKinds)-1].size; last != maxBlockData {
		t.Fatalf("the largest block holds %d bytes, maxBlockData is %d", last, maxBlockData)
	}
}

// TestNewKeyChain_Property: the key and value read back equal and apart
// from what was passed, an append to the value cannot reach past it, and
// nil stays nil while empty stays non-nil.
func TestNewKeyChain_Property(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.StringN(0, 600, -1).Draw(t, "key")
		var value []byte
		if !rapid.Bool().Draw(t, "nil") {
			value = rapid.SliceOfN(rapid.Byte(), 0, 1200).Draw(t, "value")
		}
		in, passedKey := bytes.Clone(value), strings.Clone(key)
		got, c := newKeyChain(passedKey, Entry{Version: 7, TS: 9, Value: value})
		for i := range value {
			value[i] ^= 0xff // the caller reuses its buffer
		}
		e := c.Entries
		if got != key || len(e) != 1 || e[0].Version != 7 || e[0].TS != 9 || !bytes.Equal(e[0].Value, in) || (e[0].Value == nil) != (in == nil) {
			t.Fatalf("newKeyChain(%d-byte key, %d-byte value) = key %q, entries %+v", len(key), len(in), got, e)
		}
		if len(got) > 0 && unsafe.StringData(got) == unsafe.StringData(passedKey) {
			t.Fatalf("the chain kept the caller's key instead of a copy")
		}
		if cap(e[0].Value) != len(e[0].Value) {
			t.Fatalf("value of %d bytes has capacity %d: an append would reach the block's next bytes", len(in), cap(e[0].Value))
		}
	})
}

// TestApply_CopiesWhatItKeeps: Apply of decoded writesets (keys and values
// aliasing one buffer), with the buffer overwritten after each Apply, gives
// the same store as Apply of mutations nothing changes, with values packed
// or not.
func TestApply_CopiesWhatItKeeps(t *testing.T) {
	want := encoded(t, populatedUntrimmed(t, func(ms []writeset.Mutation) []writeset.Mutation { return ms }, false), Latest)
	for _, pack := range []bool{false, true} {
		var buf []byte
		reuse := func(ms []writeset.Mutation) []writeset.Mutation {
			clear(buf) // the previous writeset's bytes are gone
			buf = writeset.Append(buf[:0], ms)
			decoded, err := writeset.Decode(buf)
			if err != nil {
				t.Fatal(err)
			}
			return decoded
		}
		s := populatedUntrimmed(t, reuse, pack)
		clear(buf)
		if got := encoded(t, s, Latest); !bytes.Equal(got, want) {
			t.Fatalf("pack=%v: the store differs from one whose writes were never reused (%d bytes vs %d)", pack, len(got), len(want))
		}
	}
}

// populatedUntrimmed applies history's writesets, each through prepare.
func populatedUntrimmed(t *testing.T, prepare func([]writeset.Mutation) []writeset.Mutation, pack bool) *Store {
	s := New()
	s.PackValues(pack)
	for txn, ms := range history() {
		if txn > 0 {
			apply(t, s, uint64(txn), prepare(ms)...)
		}
	}
	s.PackValues(false)
	return s
}
