package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/in-mem/inmem/internal/testutil"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
)

var (
	update = testutil.Update
)

func testSeed(t *testing.T) uint64 { return testutil.Seed(t, "./internal/snapshot") }

func crc32c(p []byte) uint32 { return crc32.Checksum(p, crcTable) }

// identity is the test's codec: bytes as they are.
type identity struct{}

func (identity) Encode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
func (identity) Decode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

// xorCodec changes every byte, so a test can tell encoded from plain.
type xorCodec struct{}

func (xorCodec) Encode(dst, src []byte) ([]byte, error) {
	for _, c := range src {
		dst = append(dst, c^0x5a)
	}
	return dst, nil
}
func (c xorCodec) Decode(dst, src []byte) ([]byte, error) { return c.Encode(dst, src) }

var testUUID = [16]byte{'s', 'n', 'a', 'p', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

func testHeader() Header {
	return Header{UUID: testUUID, ID: 3, Watermark: 77, Clock: 1_764_000_000_000_077, CodecID: "identity"}
}

// pattern returns n deterministic bytes that differ from block to block.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/BlockSize)
	}
	return b
}

// encode writes data as a snapshot stream, in chunks of chunk bytes.
func encode(t testing.TB, h Header, codec Codec, data []byte, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h, codec)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		k := min(chunk, len(p))
		n, err := w.Write(p[:k])
		if err != nil || n != k {
			t.Fatalf("Write: %d, %v", n, err)
		}
		p = p[k:]
	}
	size, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(buf.Len()) {
		t.Fatalf("Close reports %d bytes, wrote %d", size, buf.Len())
	}
	return buf.Bytes()
}

// decode reads a whole stream.
func decode(b []byte, codec Codec) (Header, []byte, error) {
	r, h, err := NewReader(bytes.NewReader(b), "snap", codec)
	if err != nil {
		return h, nil, err
	}
	data, err := io.ReadAll(r)
	return h, data, err
}

func TestStream_RoundTrip(t *testing.T) {
	sizes := []int{0, 1, 100, BlockSize - 1, BlockSize, BlockSize + 1, 2*BlockSize + BlockSize/2}
	for _, codec := range []Codec{identity{}, xorCodec{}} {
		for _, size := range sizes {
			for _, chunk := range []int{1 << 30, 4099} {
				if chunk < 1<<30 && size > BlockSize+1 {
					continue // small chunks on big streams add time, not coverage
				}
				t.Run(fmt.Sprintf("%T/size=%d/chunk=%d", codec, size, chunk), func(t *testing.T) {
					data := pattern(size)
					b := encode(t, testHeader(), codec, data, chunk)
					blocks := (size + BlockSize - 1) / BlockSize
					if want := headerFixed + len("identity") + 4 + blocks*8 + size + 24; len(b) != want {
						t.Fatalf("stream is %d bytes, want %d", len(b), want)
					}
					h, got, err := decode(b, codec)
					if err != nil {
						t.Fatalf("decode: %v", err)
					}
					if h != testHeader() {
						t.Fatalf("header %+v", h)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("decoded %d bytes, want %d (first difference at %d)", len(got), len(data), firstDiff(got, data))
					}
				})
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestStream_ReadByte: the Reader is an io.ByteReader over the same bytes,
// and stays at io.EOF once the trailer checked out.
func TestStream_ReadByte(t *testing.T) {
	data := pattern(3000)
	r, _, err := NewReader(bytes.NewReader(encode(t, testHeader(), identity{}, data, 1<<30)), "snap", identity{})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; ; i++ {
		var c byte
		var err error
		if i%3 == 0 {
			c, err = r.ReadByte()
		} else {
			var b [1]byte
			var n int
			n, err = r.Read(b[:])
			if err == nil && n != 1 {
				t.Fatalf("Read returned %d bytes and no error", n)
			}
			c = b[0]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d", len(got), len(data))
	}
	for range 3 {
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("ReadByte after the end = %v", err)
		}
	}
}

// TestStream_Layout pins the header, block and trailer layout of the doc.
func TestStream_Layout(t *testing.T) {
	b := encode(t, Header{UUID: testUUID, ID: 0x0a, Watermark: 0x0b, Clock: -2, CodecID: "c"}, identity{}, []byte("xyz"), 1<<30)
	le := binary.LittleEndian
	crc := func(p []byte) uint32 { return crc32c(p) }
	if string(b[:4]) != "IMSN" || le.Uint32(b[4:]) != FormatVersion || FormatVersion != 2 || [16]byte(b[8:24]) != testUUID ||
		le.Uint64(b[24:]) != 0x0a || le.Uint64(b[32:]) != 0x0b || int64(le.Uint64(b[40:])) != -2 ||
		le.Uint16(b[48:]) != 1 || b[50] != 'c' || le.Uint32(b[51:]) != crc(b[:51]) {
		t.Fatalf("header: % x", b[:55])
	}
	blk := b[55:]
	if le.Uint32(blk) != 3 || string(blk[4:7]) != "xyz" || le.Uint32(blk[7:]) != crc(blk[:7]) {
		t.Fatalf("block: % x", blk[:11])
	}
	tr := blk[11:]
	if len(tr) != 24 || le.Uint32(tr) != 0 || le.Uint64(tr[4:]) != 1 || le.Uint64(tr[12:]) != 3 || le.Uint32(tr[20:]) != crc(tr[:20]) {
		t.Fatalf("trailer: % x", tr)
	}
}

func checkCorrupt(t *testing.T, err error, what string) *base.CorruptionError {
	t.Helper()
	var cerr *base.CorruptionError
	if !errors.As(err, &cerr) || !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("%s: error %v (%T) is not a *base.CorruptionError", what, err, err)
	}
	return cerr
}

// TestStream_EveryTruncation: a stream cut anywhere is corruption when
// read to its end, never a clean EOF with less data.
func TestStream_EveryTruncation(t *testing.T) {
	b := encode(t, testHeader(), identity{}, pattern(200), 1<<30)
	for n := range len(b) {
		_, _, err := decode(b[:n], identity{})
		cerr := checkCorrupt(t, err, fmt.Sprintf("cut at %d", n))
		if cerr.Offset < 0 || cerr.Offset > int64(n) {
			t.Fatalf("cut at %d: corruption reported at %d", n, cerr.Offset)
		}
	}
}

// TestStream_EveryBitFlip: any single-bit flip anywhere is corruption.
func TestStream_EveryBitFlip(t *testing.T) {
	b := encode(t, testHeader(), identity{}, pattern(200), 1<<30)
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		_, _, err := decode(c, identity{})
		checkCorrupt(t, err, fmt.Sprintf("bit %d of byte %d", i%8, i/8))
	}
}

// TestStream_MultiBlockDamage: truncations at and around block boundaries
// and random bit flips of a three-block stream are corruption.
func TestStream_MultiBlockDamage(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	b := encode(t, testHeader(), identity{}, pattern(2*BlockSize+1000), 1<<30)
	hdr := headerFixed + len("identity") + 4
	var cuts []int
	for _, boundary := range []int{hdr, hdr + 8 + BlockSize, hdr + 16 + 2*BlockSize, len(b) - 24, len(b) - 1} {
		cuts = append(cuts, boundary-1, boundary, boundary+1, boundary+4)
	}
	for _, n := range cuts {
		if n >= len(b) {
			continue
		}
		_, _, err := decode(b[:n], identity{})
		checkCorrupt(t, err, fmt.Sprintf("cut at %d", n))
	}
	for range 40 {
		c := bytes.Clone(b)
		i := rng.IntN(len(c) * 8)
		c[i/8] ^= 1 << (i % 8)
		_, _, err := decode(c, identity{})
		checkCorrupt(t, err, fmt.Sprintf("bit %d of byte %d (seed %d)", i%8, i/8, seed))
	}
}

type failingCodec struct{ identity }

func (failingCodec) Decode(dst, src []byte) ([]byte, error) { return nil, errors.New("bad key") }

type growingCodec struct{ identity }

func (growingCodec) Decode(dst, src []byte) ([]byte, error) {
	return append(dst, make([]byte, BlockSize+1)...), nil
}

func TestReader_Rejects(t *testing.T) {
	good := encode(t, testHeader(), identity{}, []byte("data"), 1<<30)
	trailer := len(good) - 24
	le := binary.LittleEndian
	reseal := func(b []byte, from, to int) []byte {
		le.PutUint32(b[to:], crc32c(b[from:to]))
		return b
	}
	tcs := []struct {
		name   string
		b      []byte
		codec  Codec
		reason string
	}{
		{"bad magic", append([]byte("IMSX"), good[4:]...), identity{}, "magic"},
		{"version 3", func() []byte { b := bytes.Clone(good); le.PutUint32(b[4:], 3); return b }(), identity{}, "version 3"},
		{"header checksum", func() []byte { b := bytes.Clone(good); b[30] ^= 1; return b }(), identity{}, "header checksum"},
		{"block length above the limit", func() []byte {
			b := bytes.Clone(good[:trailer-12])
			return append(le.AppendUint32(b, maxEncodedBlock+1), make([]byte, 64)...)
		}(), identity{}, "out of range"},
		{"codec fails", good, failingCodec{}, "does not decode"},
		{"codec grows a block", good, growingCodec{}, "decodes to"},
		{"trailer checksum", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(), identity{}, "trailer checksum"},
		{"trailer counts a block too many", func() []byte {
			b := bytes.Clone(good)
			le.PutUint64(b[trailer+4:], 2)
			return reseal(b, trailer, len(b)-4)
		}(), identity{}, "trailer counts"},
		{"trailer counts a byte too few", func() []byte {
			b := bytes.Clone(good)
			le.PutUint64(b[trailer+12:], 3)
			return reseal(b, trailer, len(b)-4)
		}(), identity{}, "trailer counts"},
		{"bytes after the trailer", append(bytes.Clone(good), 0), identity{}, "after the snapshot trailer"},
		{"no trailer", good[:trailer], identity{}, "cut short"},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decode(tc.b, tc.codec)
			cerr := checkCorrupt(t, err, tc.name)
			if !strings.Contains(cerr.Error(), tc.reason) || cerr.File != "snap" {
				t.Fatalf("corruption %v, want it to mention %q", cerr, tc.reason)
			}
		})
	}
}

// TestReader_IOError: a read error is returned as it is, not disguised as
// corruption.
func TestReader_IOError(t *testing.T) {
	boom := errors.New("disk on fire")
	good := encode(t, testHeader(), identity{}, pattern(100), 1<<30)
	_, _, err := NewReader(iotest.ErrReader(boom), "snap", identity{})
	if !errors.Is(err, boom) || errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("NewReader on a failing reader = %v", err)
	}
	r, _, err := NewReader(io.MultiReader(bytes.NewReader(good[:70]), iotest.ErrReader(boom)), "snap", identity{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, boom) || errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("ReadAll = %v, want the read error", err)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWriter_Errors(t *testing.T) {
	if _, err := NewWriter(io.Discard, Header{CodecID: strings.Repeat("x", 256)}, identity{}); err == nil {
		t.Fatalf("NewWriter accepted a 256-byte codec id")
	}
	// The bufio layer holds 1 MiB: a write error shows at the latest at
	// Close, and sticks.
	w, err := NewWriter(&failWriter{after: 10}, testHeader(), identity{})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for range 4 {
		if _, werr = w.Write(pattern(BlockSize)); werr != nil {
			break
		}
	}
	if _, cerr := w.Close(); werr == nil || cerr == nil {
		t.Fatalf("write error lost: Write %v, Close %v", werr, cerr)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatalf("Write after an error succeeded")
	}
	// A codec error is returned.
	w, _ = NewWriter(io.Discard, testHeader(), encodeFails{})
	w.Write([]byte("abc"))
	if _, err := w.Close(); err == nil || !strings.Contains(err.Error(), "encode block") {
		t.Fatalf("Close with a failing codec = %v", err)
	}
}

type encodeFails struct{ identity }

func (encodeFails) Encode(dst, src []byte) ([]byte, error) { return nil, errors.New("no key") }

func TestParseFileName(t *testing.T) {
	tcs := []struct {
		name string
		id   uint64
		ok   bool
	}{
		{"snap-000001.chk", 1, true},
		{"snap-123456.chk", 123456, true},
		{"snap-1234567.chk", 1234567, true},
		{"snap-000000.chk", 0, false},
		{"snap-000001.chk.tmp", 0, false},
		{"snap-1.chk", 0, false},
		{"snap-0000001.chk", 0, false},
		{"snap-00000x.chk", 0, false},
		{"wal-000001.seg", 0, false},
		{"", 0, false},
	}
	for _, tc := range tcs {
		id, ok := ParseFileName(tc.name)
		if id != tc.id || ok != tc.ok {
			t.Errorf("ParseFileName(%q) = %d, %v; want %d, %v", tc.name, id, ok, tc.id, tc.ok)
		}
		if ok && FileName(id) != tc.name {
			t.Errorf("FileName(%d) = %q", id, FileName(id))
		}
	}
}

func newSnapDir(t *testing.T) *vfs.MemFS {
	t.Helper()
	fsys := vfs.NewMemFS()
	if err := fsys.MkdirAll(DirName); err != nil {
		t.Fatal(err)
	}
	if err := vfs.SyncDir(fsys, "."); err != nil {
		t.Fatal(err)
	}
	return fsys
}

func fill(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// TestWriteFile_Crash: a power loss at DuringSnapshotBeforeRename leaves
// no snapshot file (a temp file at most); one at DuringSnapshotAfterRename,
// or after WriteFile returns, leaves the whole snapshot, under every policy.
func TestWriteFile_Crash(t *testing.T) {
	seed := testSeed(t)
	data := pattern(5000)
	policies := []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}}
	for i := range 100 {
		policies = append(policies, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + uint64(i)})
	}
	for _, p := range []crashpoint.Point{crashpoint.DuringSnapshotBeforeRename, crashpoint.DuringSnapshotAfterRename} {
		fsys := newSnapDir(t)
		cps := crashpoint.New()
		var clones []*vfs.MemFS
		cps.Arm(crashpoint.OnHit(p, 1), func(crashpoint.Point) {
			for _, pol := range policies {
				clones = append(clones, fsys.Crash(pol))
			}
		})
		size, renamed, err := WriteFile(fsys, DirName, testHeader(), identity{}, cps, fill(data))
		if err != nil || !renamed {
			t.Fatalf("WriteFile: %v, %v", renamed, err)
		}
		final := filepath.Join(DirName, FileName(testHeader().ID))
		if info, err := fsys.Stat(final); err != nil || info.Size() != size {
			t.Fatalf("WriteFile reported %d bytes: %v, %v", size, info, err)
		}
		for i, c := range clones {
			ok, err := vfs.Exists(c, final)
			if err != nil {
				t.Fatal(err)
			}
			if p == crashpoint.DuringSnapshotBeforeRename {
				if ok {
					t.Fatalf("%v at %v: the snapshot exists before its rename", policies[i], p)
				}
				continue
			}
			if !ok {
				t.Fatalf("%v at %v: the snapshot is missing after its directory sync", policies[i], p)
			}
			checkFile(t, c, final, data)
		}
		for _, pol := range policies {
			checkFile(t, fsys.Crash(pol), final, data)
		}
	}
}

func checkFile(t *testing.T, fsys vfs.FS, path string, data []byte) {
	t.Helper()
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		t.Fatal(err)
	}
	h, got, err := decode(b, identity{})
	if err != nil || h != testHeader() || !bytes.Equal(got, data) {
		t.Fatalf("%s: header %+v, %d bytes, %v", path, h, len(got), err)
	}
}

// TestWriteFile_FillError: a failing fill leaves neither the snapshot nor
// its temp file.
func TestWriteFile_FillError(t *testing.T) {
	fsys := newSnapDir(t)
	boom := errors.New("boom")
	_, renamed, err := WriteFile(fsys, DirName, testHeader(), identity{}, nil, func(io.Writer) error { return boom })
	if !errors.Is(err, boom) || renamed {
		t.Fatalf("WriteFile = %v, %v", renamed, err)
	}
	if names, _ := fsys.List(DirName); len(names) != 0 {
		t.Fatalf("left %v behind", names)
	}
}

// TestGolden_Stream pins the framing of every format version byte for
// byte with a one-block stream: the encoder writes the current version
// (regenerate its file only for a new version: go test ./internal/snapshot
// -run Golden -update), and the reader still reads every older one.
func TestGolden_Stream(t *testing.T) {
	data := []byte("the logical state is package state's business")
	path := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", FormatVersion), "stream.chk")
	got := encode(t, testHeader(), identity{}, data, 1<<30)
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
	for v, wantHeader := range map[int]Header{1: {UUID: testUUID, ID: 3, Watermark: 77, CodecID: "identity"}, 2: testHeader()} {
		path := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", v), "stream.chk")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, dec, err := decode(b, identity{})
		if err != nil || h != wantHeader || !bytes.Equal(dec, data) {
			t.Fatalf("%s decodes to %+v %q, %v; want %+v %q", path, h, dec, err, wantHeader, data)
		}
	}
}
