package writeset

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"
)

// Fuzz with: go test ./internal/writeset -run '^$' -fuzz '^FuzzDecode$' -fuzztime 5m -parallel 1

type writesetSeed struct {
	name  string
	b     []byte
	kind  uint8
	key   string
	value []byte
	seq   uint64
}

func writesetSeeds() []writesetSeed {
	var seeds []writesetSeed
	names := make([]string, 0)
	table := tableWritesets()
	for name := range table {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ms := table[name]
		m := ms[0]
		seeds = append(seeds, writesetSeed{name, Append(nil, ms), uint8(m.Kind), m.Key, m.Value, m.Seq})
	}
	one := Append(nil, []Mutation{{Kind: KVPut, Run: runA, Key: "k", Value: []byte("v")}})
	seeds = append(seeds,
		writesetSeed{"empty", nil, 0, "", nil, 0},
		writesetSeed{"huge-count", append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, one[1:]...), 9, "k", nil, 1},
		writesetSeed{"trailing", append(bytes.Clone(one), 0), 4, "", []byte("x"), 1 << 63},
		writesetSeed{"non-minimal-varint", append([]byte{0x81, 0x00}, one[1:]...), 2, "", nil, 0},
	)
	return seeds
}

// FuzzDecode: Decode never panics, allocates no more mutations than the
// input can hold, returns values that alias the input, and is stable:
// decoding the re-encoding gives the same mutations. A mutation built from
// the fuzzed fields round-trips.
func FuzzDecode(f *testing.F) {
	for _, s := range writesetSeeds() {
		f.Add(s.b, s.kind, s.key, s.value, s.seq)
	}
	f.Fuzz(func(t *testing.T, b []byte, kind uint8, key string, value []byte, seq uint64) {
		ms, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || ms != nil {
				t.Fatalf("Decode = %v, %v", ms, err)
			}
		} else {
			checkDecoded(t, b, ms)
		}

		m := Mutation{Kind: Kind(kind%uint8(maxKind)) + 1, Run: runA, Key: key, Value: value}
		if m.Kind == EventAppend {
			m.Seq = seq
		}
		in := []Mutation{m, m}
		enc := Append(nil, in)
		if len(enc) != Size(in) {
			t.Fatalf("Size %d, encoding %d bytes", Size(in), len(enc))
		}
		out, err := Decode(enc)
		if err != nil || !equalMutations(out, in) {
			t.Fatalf("round trip of %+v: %+v, %v", in, out, err)
		}
	})
}

func checkDecoded(t *testing.T, b []byte, ms []Mutation) {
	t.Helper()
	if len(ms) == 0 || len(ms) > len(b)/minSize {
		t.Fatalf("%d mutations from %d bytes", len(ms), len(b))
	}
	start, end := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(len(b))
	for _, m := range ms {
		if m.Kind == 0 || m.Kind > maxKind {
			t.Fatalf("decoded kind %d", m.Kind)
		}
		if len(m.Value) > 0 {
			p := uintptr(unsafe.Pointer(&m.Value[0]))
			if p < start || p+uintptr(len(m.Value)) > end {
				t.Fatalf("value does not alias the input")
			}
		}
	}
	re := Append(nil, ms)
	if len(re) > len(b) || Size(ms) != len(re) {
		t.Fatalf("re-encoding is %d bytes (Size %d) from a %d-byte input", len(re), Size(ms), len(b))
	}
	again, err := Decode(re)
	if err != nil || !equalMutations(again, ms) {
		t.Fatalf("decode(encode(decode(b))) = %+v, %v; want %+v", again, err, ms)
	}
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzDecode equal to the seeds above;
// -update rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range writesetSeeds() {
		var b bytes.Buffer
		fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%q)\nbyte(%q)\nstring(%q)\n[]byte(%q)\nuint64(%d)\n", s.b, s.kind, s.key, s.value, s.seq)
		path := filepath.Join("testdata", "fuzz", "FuzzDecode", "seed-"+s.name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, b.Bytes()) {
			t.Errorf("seed corpus %s is missing or stale (rewrite with -update): %v", path, err)
		}
	}
}
