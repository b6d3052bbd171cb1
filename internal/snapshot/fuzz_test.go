package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/in-mem/inmem/internal/base"
)

// Fuzz with: go test ./internal/snapshot -run '^$' -fuzz '^FuzzReader$' -fuzztime 5m -parallel 1

type readerSeed struct {
	name string
	b    []byte
}

func readerSeeds(t testing.TB) []readerSeed {
	golden := encode(t, testHeader(), identity{}, []byte("the logical state is package state's business"), 1<<30)
	small := encode(t, testHeader(), identity{}, pattern(200), 1<<30)
	flipped := bytes.Clone(small)
	flipped[80] ^= 1
	v1, err := os.ReadFile(filepath.Join("testdata", "golden", "v1", "stream.chk"))
	if err != nil {
		t.Fatal(err)
	}
	return []readerSeed{
		{"golden", golden},
		{"golden-v1", v1},
		{"small", small},
		{"empty-stream", encode(t, Header{CodecID: ""}, identity{}, nil, 1)},
		{"cut", small[:100]},
		{"no-trailer", small[:len(small)-24]},
		{"flipped", flipped},
		{"trailing-byte", append(bytes.Clone(small), 0)},
		{"empty", nil},
	}
}

// FuzzReader: reading any bytes as a snapshot stream never panics, fails
// only with a CorruptionError within the file (never a clean EOF for a
// stream without its trailer), and what it accepts survives a re-framing.
func FuzzReader(f *testing.F) {
	for _, s := range readerSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, h, err := NewReader(bytes.NewReader(b), "snap", identity{})
		var data []byte
		if err == nil {
			data, err = io.ReadAll(r)
		}
		if err != nil {
			var cerr *base.CorruptionError
			if !errors.As(err, &cerr) || cerr.Offset < 0 || cerr.Offset > int64(len(b)) {
				t.Fatalf("error %v (%T) is not a corruption within the %d-byte file", err, err, len(b))
			}
			return
		}
		// Accepted: every byte returned came from a checksummed block of the
		// file, and the header and data survive a re-framing.
		if len(data) > len(b) {
			t.Fatalf("read %d bytes from a %d-byte file", len(data), len(b))
		}
		h2, data2, err := decode(encode(t, h, identity{}, data, 1<<30), identity{})
		if err != nil || h2 != h || !bytes.Equal(data2, data) {
			t.Fatalf("re-framed stream reads as %+v %q, %v; want %+v %q", h2, data2, err, h, data)
		}
	})
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzReader equal to the seeds above;
// -update rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range readerSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.b)
		path := filepath.Join("testdata", "fuzz", "FuzzReader", "seed-"+s.name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != content {
			t.Errorf("seed corpus %s is missing or stale (rewrite with -update): %v", path, err)
		}
	}
}
