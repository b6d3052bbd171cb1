package state

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// TestKeyList_Property: after any number of adds, the list reads back as
// the slice of everything added, from any index, and after(from) holds
// exactly the rest.
func TestKeyList_Property(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var l keyList
		var want []kvRef
		n := rapid.IntRange(0, 3*maxKeyChunk).Draw(t, "n")
		for i := range n {
			k := kvRef{key: fmt.Sprint(i)}
			l.add(k)
			want = append(want, k)
		}
		from := rapid.IntRange(0, n).Draw(t, "from")
		if got := l.appendTo(nil, from); !slices.Equal(got, want[from:]) {
			t.Fatalf("appendTo(%d) of %d entries: %d entries read back, want %d", from, n, len(got), n-from)
		}
		rest := l.after(from)
		if got := rest.appendTo(nil, 0); rest.n != n-from || !slices.Equal(got, want[from:]) {
			t.Fatalf("after(%d) of %d entries holds %d", from, n, rest.n)
		}
	})
}

// TestKeyList_ReadWhileAdding: a copy taken under a lock reads its first
// n entries while the writer keeps adding (run under -race).
func TestKeyList_ReadWhileAdding(t *testing.T) {
	var mu sync.Mutex
	var l keyList
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20_000 {
			mu.Lock()
			l.add(kvRef{key: fmt.Sprint(i)})
			mu.Unlock()
		}
	}()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		mu.Lock()
		c := l
		mu.Unlock()
		got := c.appendTo(nil, 0)
		for i, k := range got {
			if k.key != fmt.Sprint(i) {
				t.Fatalf("entry %d of a copy of %d is %q", i, c.n, k.key)
			}
		}
		if len(got) != c.n {
			t.Fatalf("a copy of %d entries read back %d", c.n, len(got))
		}
	}
}
