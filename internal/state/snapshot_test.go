package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/internal/snapshot"
)

// identity is the test's codec: bytes as they are.
type identity struct{}

func (identity) Encode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
func (identity) Decode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

const testMaxValue = 1 << 10

var goldenUUID = [16]byte{'i', 'n', '-', 'm', 'e', 'm', '-', 's', 'n', 'a', 'p', 0, 0, 0, 0, 1}

func TestSnapshot_RoundTrip(t *testing.T) {
	s := populated(t)
	for at := uint64(1); at <= 6; at++ {
		b := encoded(t, s, at)
		got, stats, err := DecodeSnapshot(bytes.NewReader(b), at, testMaxValue)
		if err != nil {
			t.Fatalf("at %d: DecodeSnapshot: %v", at, err)
		}
		if got.Last() != at {
			t.Fatalf("at %d: decoded Last %d", at, got.Last())
		}
		// Every commit leaves a write, so the clock is that of commit at.
		if got.Clock() != tsOf(at) {
			t.Fatalf("at %d: decoded clock %d, want %d", at, got.Clock(), tsOf(at))
		}
		if re := encoded(t, got, at); !bytes.Equal(re, b) {
			t.Fatalf("at %d: decoded store encodes differently", at)
		}
		if want := encodeStats(t, s, at); stats != want {
			t.Fatalf("at %d: decode stats %+v, encode stats %+v", at, stats, want)
		}
	}
	// What the decoded store serves, at the last version.
	got, _, err := DecodeSnapshot(bytes.NewReader(encoded(t, s, 6)), 6, testMaxValue)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := got.Run(runA, 6)
	if !ok || a.Name != "alpha" || a.Version != 1 || a.TS != tsOf(1) {
		t.Fatalf("run A: %+v", a)
	}
	hist, trimmed := a.KVHistory("k1", 6)
	if len(hist) != 2 || trimmed != 3 || string(hist[1].Value) != "v3" || hist[1].TS != tsOf(5) {
		t.Fatalf("k1 history %+v trimmed %d", hist, trimmed)
	}
	if e, _, ok := a.KV("k2", 6); !ok || !e.Deleted || e.Version != 4 {
		t.Fatalf("k2 tombstone: %+v %v", e, ok)
	}
	if evs := a.Events(0, 9, 6); len(evs) != 3 || string(evs[1].Payload) != "e1" || evs[1].Version != 4 {
		t.Fatalf("events %+v", evs)
	}
	if e, ok := a.Cell("cell", 6); !ok || string(e.Value) != "c2" || e.Version != 5 {
		t.Fatalf("cell %+v", e)
	}
	if e, ok := got.Retention(runB, 6); !ok || e.Version != 6 {
		t.Fatalf("retention of B %+v", e)
	}
	if r, ok := got.RunByName("beta", 6); !ok || r.ID != runB {
		t.Fatalf("beta %+v", r)
	}
}

func encodeStats(t *testing.T, s *Store, at uint64) SnapshotStats {
	t.Helper()
	st, err := s.EncodeSnapshot(io.Discard, at)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSnapshot_PointInTime: a snapshot at version at holds exactly the
// state after the commits up to at, even while later ones were applied.
func TestSnapshot_PointInTime(t *testing.T) {
	full := New()
	h := history()
	for txn := 1; txn < len(h); txn++ {
		apply(t, full, uint64(txn), h[txn]...)
	}
	for at := 1; at < len(h); at++ {
		prefix := New()
		for txn := 1; txn <= at; txn++ {
			apply(t, prefix, uint64(txn), h[txn]...)
		}
		if a, b := encoded(t, full, uint64(at)), encoded(t, prefix, uint64(at)); !bytes.Equal(a, b) {
			t.Errorf("snapshot at %d of the full store differs from the store of commits 1..%d", at, at)
		}
	}
}

// TestSnapshot_ThroughFraming: a store with values bigger than a block
// round-trips through the snapshot file format, and every damage of the
// file is a CorruptionError from DecodeSnapshot.
func TestSnapshot_ThroughFraming(t *testing.T) {
	s := populated(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), (snapshot.BlockSize+snapshot.BlockSize/2)/16)
	apply(t, s, 7, put(runA, "big", string(big)), event(runA, 3, string(big[:1000])))
	for i := range 2000 {
		apply(t, s, uint64(8+i), put(runB, fmt.Sprintf("key-%05d", i), strings.Repeat("v", i%300)))
	}
	at := s.Last()
	file := writeFile(t, s, at)
	if len(file) <= snapshot.BlockSize {
		t.Fatalf("snapshot is %d bytes: not multi-block", len(file))
	}
	got, err := readFile(file, at, len(big))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encoded(t, got, at), encoded(t, s, at)) {
		t.Fatalf("decoded store differs")
	}
	// The limit on one length is enforced.
	if _, err := readFile(file, at, len(big)-1); !errors.Is(err, ErrSnapshotFormat) || !strings.Contains(err.Error(), "above the limit") {
		t.Fatalf("maxValue below the big value: %v", err)
	}
	for _, cut := range []int{0, 60, snapshot.BlockSize, snapshot.BlockSize + 70, len(file) - 30, len(file) - 20, len(file) - 1} {
		_, err := readFile(file[:cut], at, len(big))
		checkCorrupt(t, err, fmt.Sprintf("cut at %d", cut))
	}
	for _, off := range []int{10, 70, snapshot.BlockSize, snapshot.BlockSize + 100, len(file) - 30, len(file) - 10} {
		c := bytes.Clone(file)
		c[off] ^= 0x20
		_, err := readFile(c, at, len(big))
		checkCorrupt(t, err, fmt.Sprintf("flip at %d", off))
	}
}

func writeFile(t testing.TB, s *Store, at uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Header{UUID: goldenUUID, ID: 1, Watermark: at, Clock: tsOf(at), CodecID: "identity"}, identity{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EncodeSnapshot(w, at); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readFile decodes a snapshot file the way recovery does.
func readFile(b []byte, at uint64, maxValue int) (*Store, error) {
	r, _, err := snapshot.NewReader(bytes.NewReader(b), "snap-000001.chk", identity{})
	if err != nil {
		return nil, err
	}
	s, _, err := DecodeSnapshot(r, at, maxValue)
	return s, err
}

func checkCorrupt(t *testing.T, err error, what string) {
	t.Helper()
	var cerr *base.CorruptionError
	if !errors.As(err, &cerr) || cerr.File != "snap-000001.chk" || cerr.Offset < 0 {
		t.Fatalf("%s: error %v is not a CorruptionError naming the file and offset", what, err)
	}
}

// TestGolden_Snapshot pins a whole snapshot file (identity codec, the
// populated store) byte for byte in the current format version, and reads
// the files of every version to the same store. Regenerate only for a new
// format version: go test ./internal/state -run Golden -update
func TestGolden_Snapshot(t *testing.T) {
	path := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", snapshot.FormatVersion), snapshot.FileName(1))
	s := populated(t)
	got := writeFile(t, s, 6)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from %s:\ngot  % x\nwant % x", path, got, want)
	}
	for v := 1; v <= snapshot.FormatVersion; v++ {
		path := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", v), snapshot.FileName(1))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := readFile(b, 6, testMaxValue)
		if err != nil {
			t.Fatalf("%s does not decode: %v", path, err)
		}
		if !bytes.Equal(encoded(t, dec, 6), encoded(t, s, 6)) || dec.Clock() != tsOf(6) {
			t.Fatalf("%s decodes to a different store (clock %d)", path, dec.Clock())
		}
	}
}

// TestGolden_EveryDamage: every truncation and every byte's bit flip of the
// golden file is a CorruptionError: never a panic, never a short store.
func TestGolden_EveryDamage(t *testing.T) {
	file := writeFile(t, populated(t), 6)
	for n := range len(file) {
		_, err := readFile(file[:n], 6, testMaxValue)
		checkCorrupt(t, err, fmt.Sprintf("cut at %d", n))
	}
	for i := range len(file) {
		c := bytes.Clone(file)
		c[i] ^= 1 << (i % 8)
		_, err := readFile(c, 6, testMaxValue)
		checkCorrupt(t, err, fmt.Sprintf("bit %d of byte %d", i%8, i))
	}
}

// TestDecodeSnapshot_EveryTruncation: the bare stream cut anywhere is an
// error, never a smaller store.
func TestDecodeSnapshot_EveryTruncation(t *testing.T) {
	b := encoded(t, populated(t), 6)
	for n := range len(b) {
		if _, _, err := DecodeSnapshot(bytes.NewReader(b[:n]), 6, testMaxValue); !errors.Is(err, ErrSnapshotFormat) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

// stream builds snapshot content by hand.
type stream struct{ b []byte }

func (s *stream) tag(c byte) *stream    { s.b = append(s.b, c); return s }
func (s *stream) raw(p ...byte) *stream { s.b = append(s.b, p...); return s }
func (s *stream) u(x uint64) *stream    { s.b = binary.AppendUvarint(s.b, x); return s }
func (s *stream) i(x int64) *stream     { s.b = binary.AppendVarint(s.b, x); return s }
func (s *stream) str(x string) *stream  { return s.u(uint64(len(x))).raw([]byte(x)...) }
func (s *stream) id(x [16]byte) *stream { return s.raw(x[:]...) }
func (s *stream) run(x [16]byte, name string, v uint64) *stream {
	return s.tag(tagRun).id(x).str(name).u(v).i(tsOf(v))
}
func (s *stream) entry(v uint64, flags byte, val string) *stream {
	return s.u(v).i(tsOf(v)).raw(flags).str(val)
}
func (s *stream) end(counts ...uint64) *stream {
	s.tag(tagEnd)
	for _, c := range counts {
		s.u(c)
	}
	return s
}
func newStream() *stream { return &stream{} }

func TestDecodeSnapshot_Rejects(t *testing.T) {
	const at = 10
	tcs := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "missing end marker"},
		{"end counts wrong", newStream().end(1, 0, 0, 0, 0, 0).b, "end marker count 0 is 1"},
		{"end counts cut", newStream().end(0, 0).b, "bad number"},
		{"bytes after end", newStream().end(0, 0, 0, 0, 0, 0).raw(0).b, "bytes after the end marker"},
		{"key before any run", newStream().tag(tagKV).str("k").b, "before any run"},
		{"unknown tag", newStream().run(runA, "a", 1).tag('X').b, "unknown tag"},
		{"run without a name", newStream().run(runA, "", 1).b, "empty or repeated"},
		{"run repeated", newStream().run(runA, "a", 1).run(runA, "b", 1).b, "empty or repeated"},
		{"run name repeated", newStream().run(runA, "a", 1).run(runB, "a", 1).b, "empty or repeated"},
		{"run version 0", newStream().run(runA, "a", 0).b, "outside 1..10"},
		{"run version above the watermark", newStream().run(runA, "a", at+1).b, "outside 1..10"},
		{"run id cut", newStream().tag(tagRun).raw(1, 2, 3).b, "run id cut short"},
		{"empty history", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(0).b, "empty history"},
		{"versions not increasing", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(2).entry(3, 0, "x").entry(3, 0, "y").b, "not increasing"},
		{"key repeated", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(1).entry(2, 0, "x").tag(tagKV).str("k").u(0).u(1).entry(3, 0, "y").b, "repeated"},
		{"bad flags", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(1).entry(2, 2, "x").b, "bad entry flags"},
		{"value above the limit", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(1).u(2).i(0).raw(0).u(testMaxValue + 1).b, "above the limit"},
		{"value cut", newStream().run(runA, "a", 1).tag(tagKV).str("k").u(0).u(1).u(2).i(0).raw(0).u(5).raw('a').b, "cut short"},
		{"event sequence gap", newStream().run(runA, "a", 1).tag(tagEvent).u(1).u(2).i(0).str("e").b, "where 0 is next"},
		{"event versions decrease", newStream().run(runA, "a", 1).tag(tagEvent).u(0).u(3).i(0).str("e").tag(tagEvent).u(1).u(2).i(0).str("f").b, "decrease"},
		{"cell repeated", newStream().run(runA, "a", 1).tag(tagCell).str("c").entry(2, 0, "x").tag(tagCell).str("c").entry(3, 0, "y").b, "repeated"},
		{"retention repeated", newStream().tag(tagRetention).id(runA).u(1).entry(2, 0, "p").tag(tagRetention).id(runA).u(1).entry(3, 0, "p").b, "repeated"},
		{"retention empty", newStream().tag(tagRetention).id(runA).u(0).b, "empty retention history"},
		{"retention id cut", newStream().tag(tagRetention).raw(1).b, "run id cut short"},
		{"overlong varint", newStream().run(runA, "a", 1).tag(tagKV).str("k").raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).b, "bad number"},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := DecodeSnapshot(bytes.NewReader(tc.b), at, testMaxValue)
			if !errors.Is(err, ErrSnapshotFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeSnapshot = %v, want ErrSnapshotFormat mentioning %q", err, tc.want)
			}
			if s != nil {
				t.Fatalf("failed decode returned a store")
			}
		})
	}
	// The smallest valid stream: an empty store.
	s, _, err := DecodeSnapshot(bytes.NewReader(newStream().end(0, 0, 0, 0, 0, 0).b), at, testMaxValue)
	if err != nil || s.Last() != at || len(s.Runs(Latest)) != 0 {
		t.Fatalf("empty store: %v, %v", s, err)
	}
}

// TestDecodeSnapshot_ReadError: an I/O error under the decoder stays
// matchable, not only a format error.
func TestDecodeSnapshot_ReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	b := encoded(t, populated(t), 6)
	_, _, err := DecodeSnapshot(io.MultiReader(bytes.NewReader(b[:40]), errReader{boom}), 6, testMaxValue)
	if !errors.Is(err, boom) || !errors.Is(err, ErrSnapshotFormat) {
		t.Fatalf("DecodeSnapshot = %v, want the read error wrapped", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
