package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/internal/snapshot"
)

// Fuzz with: go test ./internal/state -run '^$' -fuzz '^FuzzDecodeSnapshot$' -fuzztime 5m -parallel 1

type snapshotSeed struct {
	name  string
	b     []byte
	frame bool
	at    uint64
}

// snapshotSeeds: the golden file as it is, its content framed afresh, the
// malformed streams of TestDecodeSnapshot_Rejects, and damaged files.
func snapshotSeeds(t testing.TB) []snapshotSeed {
	s := populated(t)
	file := writeFile(t, s, 6)
	flipped := bytes.Clone(file)
	flipped[100] ^= 4
	v1, err := os.ReadFile(filepath.Join("testdata", "golden", "v1", snapshot.FileName(1)))
	if err != nil {
		t.Fatal(err)
	}
	seeds := []snapshotSeed{
		{"golden-file", file, false, 6},
		{"golden-file-v1", v1, false, 6},
		{"golden-content", encoded(t, s, 6), true, 6},
		{"content-at-3", encoded(t, s, 3), true, 3},
		{"empty-store", newStream().end(0, 0, 0, 0, 0, 0).b, true, 1},
		{"file-cut", file[:len(file)/2], false, 6},
		{"file-no-trailer", file[:len(file)-24], false, 6},
		{"file-flipped", flipped, false, 6},
		{"empty", nil, false, 1},
		{"bad-flags", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(1).entry(2, 2, "x").b, true, 10},
		{"value-above-limit", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(1).u(2).i(0).raw(0).u(1 << 40).b, true, 10},
		{"event-gap", newStream().run(runA, "a", 1).tag(tagEvent).u(1).u(2).i(0).str("e").b, true, 10},
		{"retention", newStream().tag(tagRetention).id(runA).u(1).entry(2, 0, "p").end(0, 0, 0, 0, 0, 1).b, true, 10},
	}
	return seeds
}

// frame wraps content in a valid snapshot file.
func frame(t *testing.T, content []byte, at uint64) []byte {
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Header{UUID: goldenUUID, ID: 1, Watermark: at, CodecID: "identity"}, identity{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fuzzMaxValue is the small length limit the fuzz target decodes with.
const fuzzMaxValue = 256

// FuzzDecodeSnapshot: a snapshot file (the fuzzed bytes, or the fuzzed
// bytes framed as a valid file so the fuzzer reaches the content decoder)
// read the way recovery reads it never panics, fails only with a
// CorruptionError or ErrSnapshotFormat, allocates within the framing's and
// maxValue's limits plus a bounded amount per input byte, and a store it
// accepts encodes to a stream that decodes to the same store.
func FuzzDecodeSnapshot(f *testing.F) {
	for _, s := range snapshotSeeds(f) {
		f.Add(s.b, s.frame, s.at-1) // the target decodes at at%64+1
	}
	f.Fuzz(func(t *testing.T, b []byte, framed bool, at uint64) {
		at = at%64 + 1
		file := b
		if framed {
			file = frame(t, b, at)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := readFile(file, at, fuzzMaxValue)
		runtime.ReadMemStats(&after)
		// The reader's 1 MiB buffer, one encoded block and its decoding
		// (each at most the file), one value, and the decoded entries.
		limit := uint64(1<<20 + 3*len(file) + 2*fuzzMaxValue + 200*len(file) + 64<<10)
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			t.Fatalf("decoding a %d-byte file allocated %d bytes (limit %d)", len(file), got, limit)
		}
		if err != nil {
			var cerr *base.CorruptionError
			if !errors.As(err, &cerr) && !errors.Is(err, ErrSnapshotFormat) {
				t.Fatalf("error %v (%T) is neither corruption nor a format error", err, err)
			}
			if cerr != nil && (cerr.Offset < 0 || cerr.Offset > int64(len(file))) {
				t.Fatalf("corruption at %d in a %d-byte file", cerr.Offset, len(file))
			}
			if s != nil {
				t.Fatalf("failed decode returned a store")
			}
			return
		}
		if s.Last() != at {
			t.Fatalf("decoded Last %d, want %d", s.Last(), at)
		}
		re := encoded(t, s, at)
		s2, _, err := DecodeSnapshot(bytes.NewReader(re), at, fuzzMaxValue)
		if err != nil {
			t.Fatalf("re-encoded store does not decode: %v", err)
		}
		if re2 := encoded(t, s2, at); !bytes.Equal(re, re2) {
			t.Fatalf("decode(encode(s)) differs from s")
		}
	})
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzDecodeSnapshot equal to the seeds
// above; -update rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range snapshotSeeds(t) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%q)\nbool(%v)\nuint64(%d)\n", s.b, s.frame, s.at-1)
		path := filepath.Join("testdata", "fuzz", "FuzzDecodeSnapshot", "seed-"+s.name)
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
