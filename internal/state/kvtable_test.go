package state

import (
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// TestKVTable_Property: after any sequence of adds (keys drawn from a small
// alphabet, so many repeat; "" included) the table holds what a Go map
// holds: every key finds its chain, absent keys find none, Len and all
// agree, whether the table was made empty, presized, or at a run's start.
func TestKVTable_Property(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tab kvTable
		if rapid.Bool().Draw(t, "presized") {
			tab = newKVTable(rapid.IntRange(0, 300).Draw(t, "hint"))
		}
		want := map[string]*Chain{}
		keys := rapid.SliceOfN(rapid.StringMatching(`[ab]{0,9}`), 0, 400).Draw(t, "keys")
		for _, k := range keys {
			c, i, h := tab.find(k)
			if c != want[k] {
				t.Fatalf("find(%q) before adding = %p, want %p", k, c, want[k])
			}
			if c == nil {
				key, c := newKeyChain(k, Entry{Version: 1})
				tab.add(i, h, key, c)
				want[k] = c
			}
		}
		for _, k := range append(keys, "c", "abc", "aaaaaaaaaa") {
			if got := tab.get(k); got != want[k] {
				t.Fatalf("get(%q) = %p, want %p", k, got, want[k])
			}
		}
		if got := maps.Collect(tab.all()); tab.Len() != len(want) || !maps.Equal(got, want) {
			t.Fatalf("Len %d and all() %d keys, want %d", tab.Len(), len(got), len(want))
		}
	})
}

// TestKVTable_Sizes: a presized table takes its keys without growing, and
// grows from any size with every key still found.
func TestKVTable_Sizes(t *testing.T) {
	for _, n := range []int{0, 1, 6, 7, 100, 5000} {
		tab := newKVTable(n)
		size := len(tab.slots)
		for i := range n {
			key, c := newKeyChain(string(rune('a'+i%26))+string(rune(i)), Entry{})
			tab.put(key, c)
		}
		if len(tab.slots) != size {
			t.Fatalf("newKVTable(%d) grew from %d to %d slots taking its %d keys", n, size, len(tab.slots), n)
		}
		if 4*n > 3*size {
			t.Fatalf("newKVTable(%d): %d slots, more than three quarters full", n, size)
		}
	}
}
