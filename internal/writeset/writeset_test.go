package writeset

import (
	"bytes"
	"errors"
	"github.com/in-mem/inmem/internal/testutil"
	"maps"
	"slices"
	"strings"
	"testing"
)

var update = testutil.Update

var (
	runA = [16]byte{'a', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	runB = [16]byte{'b'}
)

// tableWritesets covers every kind, empty and long fields, and multi-byte
// varints.
func tableWritesets() map[string][]Mutation {
	long := strings.Repeat("k", 200)
	return map[string][]Mutation{
		"create-run":   {{Kind: CreateRun, Run: runA, Key: "orders"}},
		"kv-put":       {{Kind: KVPut, Run: runA, Key: "k", Value: []byte("v")}},
		"kv-put-empty": {{Kind: KVPut, Run: runA, Key: "", Value: []byte{}}},
		"kv-delete":    {{Kind: KVDelete, Run: runA, Key: "gone", Value: []byte{}}},
		"event":        {{Kind: EventAppend, Run: runB, Key: "", Value: []byte("payload"), Seq: 0}},
		"event-big-seq": {{Kind: EventAppend, Run: runB, Value: []byte("p"), Seq: 1 << 40},
			{Kind: EventAppend, Run: runB, Value: []byte("q"), Seq: 1<<40 + 1}},
		"state-set":     {{Kind: StateSet, Run: runA, Key: "cell", Value: []byte{0, 0, 0}}},
		"set-retention": {{Kind: SetRetention, Run: runA, Value: []byte{1, 5, 0}}},
		"long-fields":   {{Kind: KVPut, Run: runB, Key: long, Value: bytes.Repeat([]byte{0xff}, 300)}},
		"mixed": {
			{Kind: CreateRun, Run: runB, Key: "b"},
			{Kind: KVPut, Run: runB, Key: "x", Value: []byte("1")},
			{Kind: EventAppend, Run: runB, Value: []byte("e"), Seq: 0},
			{Kind: StateSet, Run: runB, Key: "c", Value: []byte("s")},
			{Kind: KVDelete, Run: runB, Key: "x", Value: []byte{}},
			{Kind: SetRetention, Run: runB, Value: []byte{2, 0, 2}},
		},
	}
}

func equalMutations(a, b []Mutation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Run != y.Run || x.Key != y.Key || !bytes.Equal(x.Value, y.Value) || x.Seq != y.Seq {
			return false
		}
	}
	return true
}

func TestWriteset_RoundTrip(t *testing.T) {
	for name, ms := range tableWritesets() {
		t.Run(name, func(t *testing.T) {
			b := Append([]byte("pre"), ms)
			if string(b[:3]) != "pre" {
				t.Fatalf("Append changed the bytes before it")
			}
			enc := b[3:]
			if Size(ms) != len(enc) {
				t.Fatalf("Size = %d, encoding is %d bytes", Size(ms), len(enc))
			}
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !equalMutations(got, ms) {
				t.Fatalf("round trip: got %+v, want %+v", got, ms)
			}
		})
	}
}

// TestWriteset_SeqOnlyForEvents: the event sequence is encoded only for
// event appends.
func TestWriteset_SeqOnlyForEvents(t *testing.T) {
	b := Append(nil, []Mutation{{Kind: KVPut, Run: runA, Key: "k", Value: []byte("v"), Seq: 99}})
	ms, err := Decode(b)
	if err != nil || ms[0].Seq != 0 {
		t.Fatalf("decoded %+v, %v: a put carries no sequence", ms, err)
	}
}

func TestWriteset_ValuesAlias(t *testing.T) {
	b := Append(nil, []Mutation{{Kind: KVPut, Run: runA, Key: "k", Value: []byte("value")}})
	ms, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if &ms[0].Value[0] != &b[len(b)-5] {
		t.Fatalf("value does not alias the input")
	}
}

func TestDecode_Rejects(t *testing.T) {
	one := Append(nil, []Mutation{{Kind: KVPut, Run: runA, Key: "k", Value: []byte("v")}})
	ev := Append(nil, []Mutation{{Kind: EventAppend, Run: runA, Value: []byte("v"), Seq: 300}})
	withKind := func(k byte) []byte {
		b := bytes.Clone(one)
		b[1] = k
		return b
	}
	tcs := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "bad mutation count"},
		{"unterminated count", []byte{0x80}, "bad mutation count"},
		{"overflowing count", bytes.Repeat([]byte{0xff}, 11), "bad mutation count"},
		{"zero count", []byte{0}, "0 mutations"},
		{"count beyond input", append([]byte{2}, one[1:]...), "cannot fit"},
		{"huge count", append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, one[1:]...), "cannot fit"},
		{"kind 0", withKind(0), "unknown kind 0"},
		{"kind 7", withKind(7), "unknown kind 7"},
		{"kind 255", withKind(255), "unknown kind 255"},
		{"cut in run id", one[:10], "cannot fit"},
		{"key length unterminated", append(append([]byte{1, byte(KVPut)}, runA[:]...), 0x80, 0x80), "key: bad length"},
		{"key beyond input", append(append([]byte{1, byte(KVPut)}, runA[:]...), 5, 'a'), "key: length 5 beyond"},
		{"value beyond input", append(append([]byte{1, byte(KVPut)}, runA[:]...), 1, 'k', 9, 'v'), "value: length 9 beyond"},
		{"value length missing", append(append([]byte{1, byte(KVPut)}, runA[:]...), 1, 'k'), "value: bad length"},
		{"event without sequence", ev[:len(ev)-2], "bad event sequence"},
		{"event sequence cut", ev[:len(ev)-1], "bad event sequence"},
		{"trailing byte", append(bytes.Clone(one), 0), "1 trailing bytes"},
		{"second mutation cut", append([]byte{2}, append(one[1:], one[1:5]...)...), "cannot fit"},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Decode(tc.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error %v, want ErrMalformed mentioning %q", err, tc.want)
			}
			if ms != nil {
				t.Fatalf("failed decode returned %+v", ms)
			}
		})
	}
}

// TestDecode_AllocationBound: a count the input cannot hold is refused
// before anything is allocated for it.
func TestDecode_AllocationBound(t *testing.T) {
	b := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 64)...)
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := Decode(b); err == nil {
			t.Fatal("accepted")
		}
	})
	// The error message allocates a little; a slice of 2^63 mutations would
	// not allocate at all, it would crash.
	if allocs > 5 {
		t.Fatalf("%.0f allocations for a refused count", allocs)
	}
}

func TestKind_String(t *testing.T) {
	want := map[Kind]string{CreateRun: "create-run", KVPut: "kv-put", KVDelete: "kv-delete", EventAppend: "event-append",
		StateSet: "state-set", SetRetention: "set-retention", 0: "Kind(0)", 7: "Kind(7)"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), s)
		}
	}
	// Never renumber: the values are on disk.
	if CreateRun != 1 || KVPut != 2 || KVDelete != 3 || EventAppend != 4 || StateSet != 5 || SetRetention != 6 {
		t.Fatalf("kinds were renumbered")
	}
}

func TestUvarintLen(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 16383, 16384, 1 << 56, ^uint64(0)} {
		if got, want := uvarintLen(x), len(Append(nil, []Mutation{{Kind: EventAppend, Seq: x}}))-Size([]Mutation{{Kind: EventAppend}})+1; got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", x, got, want)
		}
	}
}

// TestDecodeInto_Reuses: decoding every table writeset into the slice the
// one before it was decoded into (events, with sequence numbers, first)
// gives what Decode gives, and uses that slice's memory when it has room.
func TestDecodeInto_Reuses(t *testing.T) {
	ws := tableWritesets()
	names := slices.Sorted(maps.Keys(ws))
	slices.SortStableFunc(names, func(a, b string) int { return strings.Compare(b[:2], a[:2]) }) // "event…" before "create…"
	dst := make([]Mutation, 0, 8)
	for _, name := range names {
		enc := Append(nil, ws[name])
		got, err := DecodeInto(dst, enc)
		if err != nil || !equalMutations(got, ws[name]) {
			t.Fatalf("%s: DecodeInto over the last writeset = %+v, %v; want %+v", name, got, err, ws[name])
		}
		if &got[0] != &dst[:1][0] {
			t.Fatalf("%s: DecodeInto allocated although dst has room for %d", name, cap(dst))
		}
		dst = got
	}
}
