package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/in-mem/inmem/vfs"
)

// The fuzz targets below run their seeds in every plain `go test`; the
// seeds come from the golden segment and the table cases, and are also
// committed under testdata/fuzz/ (rewritten with -update). Fuzz one at a
// time, e.g.:
//
//	go test ./internal/wal -run '^$' -fuzz '^FuzzDecodeRecord$' -fuzztime 5m -parallel 1

// fuzzMaxLen bounds the length field in the fuzz targets: big enough for
// every seed, small enough that a scan of a fuzzed file stays fast.
const fuzzMaxLen = 1 << 12

type recordSeed struct {
	name   string
	b      []byte
	off    int64
	maxLen uint32
	txn    uint64
	ts     int64
}

func recordSeeds() []recordSeed {
	golden := goldenSegmentBytes(FormatVersion)
	first := golden[HeaderSize:]
	good := AppendRecord(nil, 1, 7, 70, 32, []byte("payload"))
	flipped := bytes.Clone(good)
	flipped[30] ^= 1
	badVersion := bytes.Clone(good)
	badVersion[lengthSize] = 3
	v1 := AppendRecordV1(nil, 7, 70, 32, []byte("payload"))
	seeds := []recordSeed{
		{"golden-tail", first, HeaderSize, fuzzMaxLen, 1, 1},
		{"golden-whole", golden, 0, fuzzMaxLen, 2, 2},
		{"good", good, 32, fuzzMaxLen, 3, -3},
		{"empty", nil, 0, fuzzMaxLen, 0, 0},
		{"short", good[:3], 32, fuzzMaxLen, 1, 1},
		{"zeros", make([]byte, 64), 32, fuzzMaxLen, 1, 1},
		{"above-max", good, 32, 10, 1, 1},
		{"flipped", flipped, 32, fuzzMaxLen, 1, 1},
		{"bad-version", reseal(badVersion), 32, fuzzMaxLen, 1, 1},
		{"claim-beyond", good, 31, fuzzMaxLen, 1, 1},
		{"negative-off", good, -1, fuzzMaxLen, ^uint64(0), -1 << 63},
		{"v1", v1, 32, fuzzMaxLen, 4, 4},
		{"v1-golden-tail", goldenSegmentBytes(FormatV1)[HeaderSize:], HeaderSize, fuzzMaxLen, 1, 1},
	}
	for i, r := range goldenRecords(FormatVersion) {
		seeds = append(seeds, recordSeed{fmt.Sprintf("golden-record-%d", i), AppendRecord(nil, r.Segment, r.Txn, r.TS, r.Synced, r.Payload), r.Synced, fuzzMaxLen, r.Txn, r.TS})
	}
	return seeds
}

// FuzzDecodeRecord: DecodeRecord never panics, never reads or aliases
// beyond its input (its payload is a subslice of it: TestDecodeRecord_NoAllocs
// shows it allocates nothing), and what it decodes re-encodes to the same
// bytes; encoding b as a payload decodes back to it.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range recordSeeds() {
		f.Add(s.b, s.off, s.maxLen, s.txn, s.ts)
	}
	f.Fuzz(func(t *testing.T, b []byte, off int64, maxLen uint32, txn uint64, ts int64) {
		m := int(maxLen % (fuzzMaxLen * 2))
		r, n, err := DecodeRecord(b, off, m)
		if err != nil {
			if n != 0 || r.Payload != nil {
				t.Fatalf("failed decode returned size %d payload %q", n, r.Payload)
			}
		} else {
			checkDecoded(t, b, off, m, r, n)
		}

		// decode(encode(x)) == x, with b as the payload.
		synced := max(off, 0)
		enc := AppendRecord(nil, txn^1, txn, ts, synced, b)
		r2, n2, err := DecodeRecord(enc, synced, len(b)+fixedBody)
		if err != nil {
			t.Fatalf("decode of an encoded record: %v", err)
		}
		if n2 != len(enc) || r2.Segment != txn^1 || r2.Txn != txn || r2.TS != ts || r2.Synced != synced || !bytes.Equal(r2.Payload, b) {
			t.Fatalf("round trip: got %+v size %d, want txn %d ts %d synced %d payload %q", r2, n2, txn, ts, synced, b)
		}
	})
}

func checkDecoded(t *testing.T, b []byte, off int64, maxLen int, r Record, n int) {
	t.Helper()
	overhead := RecordOverhead
	if r.Version == FormatV1 {
		overhead = RecordOverheadV1
	}
	if n < overhead || n > len(b) || n-lengthSize > maxLen {
		t.Fatalf("size %d out of range (input %d, maxLen %d)", n, len(b), maxLen)
	}
	if len(r.Payload) != n-overhead {
		t.Fatalf("payload %d bytes in a %d-byte record", len(r.Payload), n)
	}
	if len(r.Payload) > 0 {
		p, start := uintptr(unsafe.Pointer(&r.Payload[0])), uintptr(unsafe.Pointer(&b[0]))
		if p < start || p+uintptr(len(r.Payload)) > start+uintptr(len(b)) {
			t.Fatalf("payload does not alias the input")
		}
	}
	if r.Synced < 0 || r.Synced > off {
		t.Fatalf("claim %d accepted at offset %d", r.Synced, off)
	}
	re := AppendRecord(nil, r.Segment, r.Txn, r.TS, r.Synced, r.Payload)
	if r.Version == FormatV1 {
		re = AppendRecordV1(nil, r.Txn, r.TS, r.Synced, r.Payload)
	}
	if !bytes.Equal(re, b[:n]) {
		t.Fatalf("re-encoding differs:\n% x\n% x", re, b[:n])
	}
}

type segmentSeed struct {
	name string
	data []byte
	num  uint8
}

// segmentSeeds: the golden segment, as segment 1 and renumbered as segment
// 2, and the damaged segments of the corruption tables (TestScan_*).
func segmentSeeds() []segmentSeed {
	golden := goldenSegmentBytes(FormatVersion)
	as2 := bytes.Clone(golden)
	copy(as2, AppendHeader(nil, 2, testUUID))
	last := buildSegment(1, defaultLog()[2])
	lostClaimAbove := defaultLog()[2]
	lostClaimAbove[4].claim = recOff(4)
	lost := buildSegment(1, lostClaimAbove)
	clear(lost[recOff(3):recOff(4)])
	zeroSector := append(bytes.Clone(last[:512]), make([]byte, 512)...)
	flipped := bytes.Clone(last)
	flipped[recOff(1)+40] ^= 8
	return []segmentSeed{
		{"golden", golden, 1},
		{"golden-as-2", as2, 2},
		{"header-only-2", AppendHeader(nil, 2, testUUID), 2},
		{"empty-2", nil, 2},
		{"zero-header-2", make([]byte, HeaderSize), 2},
		{"half-header-2", AppendHeader(nil, 2, testUUID)[:16], 2},
		{"five-records", last, 1},
		{"truncated", last[:recOff(4)+50], 1},
		{"zero-sector", zeroSector, 1},
		{"garbage-tail", append(bytes.Clone(last), garbage(1, 300)...), 1},
		{"flipped-middle", flipped, 1},
		{"lost-record-claim-above", lost, 1},
		{"golden-v1", goldenSegmentBytes(FormatV1), 1},
		{"zeroed-rest", append(bytes.Clone(last), make([]byte, 700)...), 1},
		{"stale-rest", append(bytes.Clone(last), AppendRecord(nil, 7, 99, 0, HeaderSize, testPayload(99))...), 1},
		{"zeros-then-record", append(append(bytes.Clone(last), make([]byte, 64)...), AppendRecord(nil, 1, 6, 0, HeaderSize, testPayload(6))...), 1},
	}
}

// FuzzScan: Scan of a log whose segment holds the fuzzed bytes never
// panics, never fails with an error for content, never changes the file,
// and reports damage consistently: within the file, at the end of the
// valid records, torn only in the last segment.
func FuzzScan(f *testing.F) {
	for _, s := range segmentSeeds() {
		f.Add(s.data, s.num)
	}
	golden := goldenSegmentBytes(FormatVersion)
	f.Fuzz(func(t *testing.T, data []byte, num uint8) {
		fsys := vfs.NewMemFS()
		if err := fsys.MkdirAll(testDir); err != nil {
			t.Fatal(err)
		}
		// Fuzz segment 1 alone, or segment 2 after the intact golden one.
		seg := uint64(1 + num%2)
		if seg == 2 {
			writeFile(t, fsys, segPath(1), golden)
		}
		writeFile(t, fsys, segPath(seg), data)
		var last uint64
		var applied int
		res, err := Scan(ScanOptions{FS: fsys, Dir: testDir, UUID: testUUID, MaxRecordSize: fuzzMaxLen, FirstSegment: 1,
			Apply: func(s uint64, off int64, r Record) error {
				if last != 0 && r.Txn != last+1 {
					t.Fatalf("applied txn %d after %d", r.Txn, last)
				}
				if s == seg && off+int64(RecordOverhead+len(r.Payload)) > int64(len(data)) {
					t.Fatalf("record at %d (%d bytes) beyond the %d-byte file", off, len(r.Payload), len(data))
				}
				last = r.Txn
				applied++
				return nil
			}})
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if res.Records != applied || res.LastTxn != last {
			t.Fatalf("result counts %d records up to %d, applied %d up to %d", res.Records, res.LastTxn, applied, last)
		}
		checkFuzzScan(t, res, seg, len(data))
		after, err := vfs.ReadFile(fsys, segPath(seg))
		if err != nil || !bytes.Equal(after, data) {
			t.Fatalf("Scan changed the segment")
		}
	})
}

// FuzzScanDurableEnd: with a durable end recorded in the fuzzed segment, a
// torn tail never lies before it, a log reported intact reaches it, and
// whatever the scan without it calls corruption stays damage with it.
func FuzzScanDurableEnd(f *testing.F) {
	for i, s := range segmentSeeds() {
		f.Add(s.data, uint16(i*97))
	}
	f.Fuzz(func(t *testing.T, data []byte, end uint16) {
		fsys := vfs.NewMemFS()
		if err := fsys.MkdirAll(testDir); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fsys, segPath(1), data)
		at := Position{Segment: 1, Offset: HeaderSize + int64(end), Txn: uint64(end % 8)}
		scan := func(p Position) *ScanResult {
			res, err := Scan(ScanOptions{FS: fsys, Dir: testDir, UUID: testUUID, MaxRecordSize: fuzzMaxLen, FirstSegment: 1,
				DurableEnd: p, Apply: func(uint64, int64, Record) error { return nil }})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			return res
		}
		plain, held := scan(Position{}), scan(at)
		d := held.Damage
		switch {
		case d != nil && d.Torn && d.Offset < at.Offset:
			t.Fatalf("torn tail at %d, before the durable end %d: %+v", d.Offset, at.Offset, d)
		case d == nil && held.Segments[0].ValidEnd < at.Offset:
			t.Fatalf("no damage, but the valid records end at %d, before the durable end %d", held.Segments[0].ValidEnd, at.Offset)
		case plain.Damage != nil && !plain.Damage.Torn && d == nil:
			t.Fatalf("corruption without a durable end (%+v), none with one", plain.Damage)
		}
	})
}

func checkFuzzScan(t *testing.T, res *ScanResult, seg uint64, size int) {
	t.Helper()
	for _, s := range res.Segments {
		if s.ValidEnd > s.Size || s.ValidEnd < 0 {
			t.Fatalf("segment %+v: valid end outside the file", s)
		}
		if res.Damage == nil && s.ValidEnd != s.Size {
			t.Fatalf("segment %+v: no damage reported but the valid records stop early", s)
		}
	}
	d := res.Damage
	if d == nil {
		return
	}
	if d.Segment != seg {
		t.Fatalf("damage in segment %d, fuzzed segment is %d: %+v", d.Segment, seg, d)
	}
	if d.Offset < 0 || d.Offset > int64(size) {
		t.Fatalf("damage offset %d outside the %d-byte file", d.Offset, size)
	}
	if ve := res.Segments[len(res.Segments)-1].ValidEnd; ve != d.Offset {
		t.Fatalf("damage at %d, valid records end at %d", d.Offset, ve)
	}
	if d.HeaderTorn && (!d.Torn || d.Offset != 0 || seg == 1) {
		t.Fatalf("inconsistent torn header: %+v", d)
	}
	if cerr := d.Error(); cerr == nil || cerr.Offset != d.Offset {
		t.Fatalf("Damage.Error() = %v", cerr)
	}
}

// TestFuzzCorpus keeps the committed seed corpora in testdata/fuzz/ equal
// to the seeds above; -update rewrites them.
func TestFuzzCorpus(t *testing.T) {
	var entries []corpusEntry
	for _, s := range recordSeeds() {
		entries = append(entries, corpusEntry{"FuzzDecodeRecord", s.name, []any{s.b, s.off, s.maxLen, s.txn, s.ts}})
	}
	for i, s := range segmentSeeds() {
		entries = append(entries, corpusEntry{"FuzzScan", s.name, []any{s.data, s.num}})
		entries = append(entries, corpusEntry{"FuzzScanDurableEnd", s.name, []any{s.data, uint16(i * 97)}})
	}
	checkCorpus(t, entries)
}

type corpusEntry struct {
	target, name string
	args         []any
}

// checkCorpus writes (with -update) or compares each entry in the file
// format `go test` reads seed corpora from.
func checkCorpus(t *testing.T, entries []corpusEntry) {
	t.Helper()
	for _, e := range entries {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range e.args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case byte:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			default:
				fmt.Fprintf(&b, "%T(%v)\n", v, v)
			}
		}
		path := filepath.Join("testdata", "fuzz", e.target, "seed-"+e.name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, b.Bytes()) {
			t.Errorf("seed corpus %s is missing or stale (rewrite with -update): %v", path, err)
		}
	}
}
