package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
)

const testDir = "db/WAL"

// testRec is one record of a hand-built log.
type testRec struct {
	txn   uint64
	claim int64
}

// payloadSize makes every test record 133 bytes, so record offsets in a
// segment are 32, 165, 298, 431, 564 and the fifth ends at 697.
const payloadSize = 100

func testPayload(txn uint64) []byte {
	p := []byte(fmt.Sprintf("record %d ", txn))
	return append(p, bytes.Repeat([]byte{'.'}, payloadSize-len(p))...)
}

// recOff is the offset of the i-th (0-based) record in a test segment.
func recOff(i int) int64 { return HeaderSize + int64(i)*(RecordOverhead+payloadSize) }

// buildSegment encodes a segment with the given records.
func buildSegment(num uint64, recs []testRec) []byte {
	b := AppendHeader(nil, num, testUUID)
	for _, r := range recs {
		b = AppendRecord(b, num, r.txn, int64(r.txn)*1000, r.claim, testPayload(r.txn))
	}
	return b
}

// defaultLog is the log the corruption tables damage: three segments, the
// last one holding five records. Claims follow what a Writer would write:
// each record claims a synced offset at or below its own.
func defaultLog() [][]testRec {
	return [][]testRec{
		{{1, recOff(0)}, {2, recOff(0)}, {3, recOff(1)}},
		{{4, recOff(0)}, {5, recOff(0)}, {6, recOff(1)}},
		{{7, recOff(0)}, {8, recOff(1)}, {9, recOff(1)}, {10, recOff(3)}, {11, recOff(3)}},
	}
}

func writeFile(t testing.TB, fsys vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fsys.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeLog(t testing.TB, fsys vfs.FS, segs [][]testRec) {
	t.Helper()
	if err := fsys.MkdirAll(testDir); err != nil {
		t.Fatal(err)
	}
	for i, recs := range segs {
		writeFile(t, fsys, segPath(uint64(i+1)), buildSegment(uint64(i+1), recs))
	}
}

func segPath(num uint64) string { return filepath.Join(testDir, SegmentName(num)) }

// scanLog scans testDir from segment first and returns the result and the
// txn ids Apply saw.
func scanLog(t testing.TB, fsys vfs.FS, first uint64) (*ScanResult, []uint64) {
	t.Helper()
	return scanLogTo(t, fsys, first, Position{})
}

// scanLogTo is scanLog with a durable end.
func scanLogTo(t testing.TB, fsys vfs.FS, first uint64, end Position) (*ScanResult, []uint64) {
	t.Helper()
	return scanLogMapped(t, fsys, first, end, false)
}

// scanLogMapped is scanLogTo, reading through mappings if mapped is set.
func scanLogMapped(t testing.TB, fsys vfs.FS, first uint64, end Position, mapped bool) (*ScanResult, []uint64) {
	t.Helper()
	var txns []uint64
	res, err := Scan(ScanOptions{
		FS: fsys, Dir: testDir, UUID: testUUID, MaxRecordSize: testMaxLen, FirstSegment: first, DurableEnd: end,
		Map: mapped,
		Apply: func(seg uint64, off int64, r Record) error {
			if !bytes.Equal(r.Payload, testPayload(r.Txn)) {
				return fmt.Errorf("record %d holds %q", r.Txn, r.Payload)
			}
			txns = append(txns, r.Txn)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return res, txns
}

// corruptFunc damages the log in fsys.
type corruptFunc func(t testing.TB, fsys *vfs.MemFS)

func editFile(path string, f func(b []byte) []byte) corruptFunc {
	return func(t testing.TB, fsys *vfs.MemFS) {
		t.Helper()
		b, err := vfs.ReadFile(fsys, path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, fsys, path, f(b))
	}
}

func truncateAt(path string, size int64) corruptFunc {
	return editFile(path, func(b []byte) []byte { return b[:size] })
}

func flipBit(path string, off int64, bit uint) corruptFunc {
	return editFile(path, func(b []byte) []byte {
		b[off] ^= 1 << bit
		return b
	})
}

// zeroRange zeroes [from, to), growing the file if needed: a hole left by
// a lost write or an all-zero torn sector.
func zeroRange(path string, from, to int64) corruptFunc {
	return editFile(path, func(b []byte) []byte {
		for int64(len(b)) < to {
			b = append(b, 0)
		}
		clear(b[from:to])
		return b
	})
}

func appendBytes(path string, extra []byte) corruptFunc {
	return editFile(path, func(b []byte) []byte { return append(b, extra...) })
}

func removeFile(path string) corruptFunc {
	return func(t testing.TB, fsys *vfs.MemFS) {
		t.Helper()
		if err := fsys.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

func createFile(path string, b []byte) corruptFunc {
	return func(t testing.TB, fsys *vfs.MemFS) {
		t.Helper()
		writeFile(t, fsys, path, b)
	}
}

func rewriteRecord(path string, i int, txn uint64, claim int64) corruptFunc {
	return editFile(path, func(b []byte) []byte {
		num, _ := ParseSegmentName(filepath.Base(path))
		rec := AppendRecord(nil, num, txn, int64(txn)*1000, claim, testPayload(txn))
		copy(b[recOff(i):], rec)
		return b
	})
}

// rewriteRecordOf is rewriteRecord with a record that names segment seg.
func rewriteRecordOf(path string, seg uint64, i int, txn uint64, claim int64) corruptFunc {
	return editFile(path, func(b []byte) []byte {
		copy(b[recOff(i):], AppendRecord(nil, seg, txn, int64(txn)*1000, claim, testPayload(txn)))
		return b
	})
}

// scanWant is the expected outcome of a scan.
type scanWant struct {
	damaged    bool
	seg        uint64
	off        int64
	torn       bool
	headerTorn bool
	later      []uint64
	records    int // valid records applied before the damage
	reason     string
}

func garbage(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// scanCase is one damage to the default log and what Scan must make of it.
type scanCase struct {
	name    string
	log     func(l [][]testRec) // changes the claims before the log is written
	corrupt []corruptFunc
	want    scanWant
}

// runScanCases writes the default log for each case, damages it, scans it
// from segment 1 and checks the outcome, and that Scan changed no file.
func runScanCases(t *testing.T, tcs []scanCase) {
	t.Helper()
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			fsys := vfs.NewMemFS()
			l := defaultLog()
			if tc.log != nil {
				tc.log(l)
			}
			writeLog(t, fsys, l)
			for _, c := range tc.corrupt {
				c(t, fsys)
			}
			before := snapshotFiles(t, fsys)
			res, txns := scanLog(t, fsys, 1)
			checkScan(t, res, txns, tc.want)
			if after := snapshotFiles(t, fsys); after != before {
				t.Fatalf("Scan changed the log")
			}
			// The same files on the real filesystem, read through mappings.
			t.Chdir(t.TempDir())
			copyLog(t, fsys, vfs.OS)
			res, txns = scanLogMapped(t, vfs.OS, 1, Position{}, true)
			checkScan(t, res, txns, tc.want)
		})
	}
}

// TestScan_TornTail: an intact log scans whole; a last segment cut short,
// ending in a zeroed sector or in garbage is a torn tail at the last good
// record, and one cut at a record boundary is no damage at all.
func TestScan_TornTail(t *testing.T) {
	s3 := segPath(3)
	end := recOff(5) // end of the last segment, 697
	runScanCases(t, []scanCase{
		{name: "intact", want: scanWant{records: 11}},
		{name: "truncate mid-record", corrupt: []corruptFunc{truncateAt(s3, recOff(4)+50)},
			want: scanWant{damaged: true, seg: 3, off: recOff(4), torn: true, records: 10, reason: "cut short"}},
		{name: "truncate inside the length field", corrupt: []corruptFunc{truncateAt(s3, recOff(4)+2)},
			want: scanWant{damaged: true, seg: 3, off: recOff(4), torn: true, records: 10, reason: "cut short"}},
		{name: "truncate at a record boundary", corrupt: []corruptFunc{truncateAt(s3, recOff(4))},
			want: scanWant{records: 10}},
		{name: "truncate to the header", corrupt: []corruptFunc{truncateAt(s3, HeaderSize)},
			want: scanWant{records: 6}},
		// Bytes 512..1023 are one sector: it cuts record 10 (431..564) and
		// holds all of record 11.
		{name: "zero the tail sector", corrupt: []corruptFunc{zeroRange(s3, 512, 1024)},
			want: scanWant{damaged: true, seg: 3, off: recOff(3), torn: true, records: 9, reason: "checksum"}},
		{name: "zero the tail sector inside the file", corrupt: []corruptFunc{zeroRange(s3, 512, end)},
			want: scanWant{damaged: true, seg: 3, off: recOff(3), torn: true, records: 9, reason: "checksum"}},
		{name: "garbage appended", corrupt: []corruptFunc{appendBytes(s3, garbage(1, 300))},
			want: scanWant{damaged: true, seg: 3, off: end, torn: true, records: 11}},
		{name: "a few garbage bytes appended", corrupt: []corruptFunc{appendBytes(s3, []byte{1, 2, 3})},
			want: scanWant{damaged: true, seg: 3, off: end, torn: true, records: 11, reason: "cut short"}},
	})
}

// TestScan_PreparedRest: format 2 writes the rest of a segment ahead with
// zeros, and a recycled file keeps stale records of an older segment; both
// end the log cleanly, unless a record of the segment itself follows them.
func TestScan_PreparedRest(t *testing.T) {
	s2, s3 := segPath(2), segPath(3)
	end := recOff(5) // end of the last segment, 697
	runScanCases(t, []scanCase{
		{name: "zeros appended (the prepared rest)", corrupt: []corruptFunc{zeroRange(s3, end, 1024)},
			want: scanWant{records: 11}},
		{name: "zeros appended to an earlier segment", corrupt: []corruptFunc{appendBytes(s2, make([]byte, 700))},
			want: scanWant{records: 11}},
		{name: "a stale record appended", corrupt: []corruptFunc{appendBytes(s3, AppendRecord(nil, 1, 12, 0, HeaderSize, testPayload(12)))},
			want: scanWant{records: 11}},
		{name: "stale records and garbage appended", corrupt: []corruptFunc{appendBytes(s3,
			append(AppendRecord(nil, 1, 12, 0, HeaderSize, testPayload(12)), garbage(3, 200)...))},
			want: scanWant{records: 11}},
		{name: "a stale record in place of the last", corrupt: []corruptFunc{rewriteRecordOf(s3, 1, 4, 11, recOff(3))},
			want: scanWant{records: 10}},
		{name: "a stale record in place of a middle one", corrupt: []corruptFunc{rewriteRecordOf(s3, 2, 2, 9, recOff(1))},
			want: scanWant{damaged: true, seg: 3, off: recOff(2), records: 8, reason: "stale"}},
		{name: "zeros, then a record of the segment", corrupt: []corruptFunc{appendBytes(s3,
			append(make([]byte, 100), AppendRecord(nil, 3, 12, 0, HeaderSize, testPayload(12))...))},
			want: scanWant{damaged: true, seg: 3, off: end, torn: true, records: 11, reason: "length"}},
	})
}

// TestScan_DamagedRecords: a flipped bit, a cut earlier segment or a txn id
// out of order stops the scan at that record; it is a torn tail only in the
// last record, and damage in an earlier segment lists the segments after it.
func TestScan_DamagedRecords(t *testing.T) {
	s1, s2, s3 := segPath(1), segPath(2), segPath(3)
	runScanCases(t, []scanCase{
		{name: "bit flip in a middle record of the last segment", corrupt: []corruptFunc{flipBit(s3, recOff(1)+40, 3)},
			want: scanWant{damaged: true, seg: 3, off: recOff(1), records: 7, reason: "checksum"}},
		{name: "bit flip in a length field with valid records after", corrupt: []corruptFunc{flipBit(s3, recOff(2), 0)},
			want: scanWant{damaged: true, seg: 3, off: recOff(2), records: 8}},
		{name: "bit flip in the last record", corrupt: []corruptFunc{flipBit(s3, recOff(4)+60, 7)},
			want: scanWant{damaged: true, seg: 3, off: recOff(4), torn: true, records: 10, reason: "checksum"}},
		{name: "bit flip in an earlier segment", corrupt: []corruptFunc{flipBit(s2, recOff(2)+40, 0)},
			want: scanWant{damaged: true, seg: 2, off: recOff(2), later: []uint64{3}, records: 5, reason: "checksum"}},
		{name: "tail of an earlier segment cut", corrupt: []corruptFunc{truncateAt(s1, recOff(2)+10)},
			want: scanWant{damaged: true, seg: 1, off: recOff(2), later: []uint64{2, 3}, records: 2, reason: "cut short"}},
		{name: "txn id does not follow", corrupt: []corruptFunc{rewriteRecord(s3, 2, 99, recOff(1))},
			want: scanWant{damaged: true, seg: 3, off: recOff(2), records: 8, reason: "txn id 99 where 9 was expected"}},
		{name: "txn id repeats in the last record", corrupt: []corruptFunc{rewriteRecord(s3, 4, 10, recOff(3))},
			want: scanWant{damaged: true, seg: 3, off: recOff(4), torn: true, records: 10, reason: "txn id 10"}},
	})
}

// TestScan_Headers: a damaged segment header is corruption at offset 0 of
// its segment, except the header of a new last segment with no record after
// it, never durable yet, which is a torn tail whatever it holds.
func TestScan_Headers(t *testing.T) {
	s1, s2, s3, s4 := segPath(1), segPath(2), segPath(3), segPath(4)
	runScanCases(t, []scanCase{
		{name: "damaged first header", corrupt: []corruptFunc{flipBit(s1, 1, 0)},
			want: scanWant{damaged: true, seg: 1, off: 0, later: []uint64{2, 3}, reason: "magic"}},
		{name: "damaged middle header", corrupt: []corruptFunc{flipBit(s2, 20, 0)},
			want: scanWant{damaged: true, seg: 2, off: 0, later: []uint64{3}, records: 3, reason: "belongs to database"}},
		{name: "damaged last header with records after it", corrupt: []corruptFunc{flipBit(s3, 9, 0)},
			want: scanWant{damaged: true, seg: 3, off: 0, records: 6, reason: "header names segment"}},
		{name: "segment file holding another segment", corrupt: []corruptFunc{createFile(s4, buildSegment(3, nil))},
			want: scanWant{damaged: true, seg: 4, off: 0, records: 11, reason: "header names segment 3"}},
		{name: "last header never written (empty file)", corrupt: []corruptFunc{createFile(s4, nil)},
			want: scanWant{damaged: true, seg: 4, off: 0, torn: true, headerTorn: true, records: 11}},
		{name: "last header cut short", corrupt: []corruptFunc{createFile(s4, buildSegment(4, nil)[:12])},
			want: scanWant{damaged: true, seg: 4, off: 0, torn: true, headerTorn: true, records: 11}},
		{name: "last header zero-filled", corrupt: []corruptFunc{createFile(s4, make([]byte, HeaderSize))},
			want: scanWant{damaged: true, seg: 4, off: 0, torn: true, headerTorn: true, records: 11}},
		{name: "last header with its second half lost", corrupt: []corruptFunc{
			createFile(s4, append(buildSegment(4, nil)[:16], make([]byte, 16)...))},
			want: scanWant{damaged: true, seg: 4, off: 0, torn: true, headerTorn: true, records: 11}},
		// A new segment's header is never durable before its first record:
		// a power loss may leave stale bytes there (a sector written with
		// old content), and with no record after it that is a torn tail.
		{name: "last header is garbage", corrupt: []corruptFunc{createFile(s4, garbage(2, HeaderSize))},
			want: scanWant{damaged: true, seg: 4, off: 0, torn: true, headerTorn: true, records: 11, reason: "magic"}},
		{name: "last header names another database", corrupt: []corruptFunc{createFile(s4, AppendHeader(nil, 4, [16]byte{1}))},
			want: scanWant{damaged: true, seg: 4, off: 0, records: 11, reason: "belongs to database"}},
		{name: "last header zeroed but a record after it", corrupt: []corruptFunc{
			createFile(s4, append(make([]byte, HeaderSize), AppendRecord(nil, 4, 12, 0, HeaderSize, testPayload(12))...))},
			want: scanWant{damaged: true, seg: 4, off: 0, records: 11, reason: "magic"}},
	})
}

// TestScan_MissingSegments: a segment missing from the log, the first one
// included, is corruption with no offset, naming the segments after it.
func TestScan_MissingSegments(t *testing.T) {
	s1, s2, s3 := segPath(1), segPath(2), segPath(3)
	runScanCases(t, []scanCase{
		{name: "middle segment removed", corrupt: []corruptFunc{removeFile(s2)},
			want: scanWant{damaged: true, seg: 2, off: -1, later: []uint64{3}, records: 3, reason: "segment 2 is missing"}},
		{name: "first segment removed", corrupt: []corruptFunc{removeFile(s1)},
			want: scanWant{damaged: true, seg: 1, off: -1, later: []uint64{2, 3}, reason: "where the log starts, is missing"}},
		{name: "every segment removed", corrupt: []corruptFunc{removeFile(s1), removeFile(s2), removeFile(s3)},
			want: scanWant{damaged: true, seg: 1, off: -1, reason: "where the log starts, is missing"}},
	})
}

// TestScan_LostRecord: record 10 (431..564) is lost, a hole of zeros, and
// record 11 made it to disk: its synced claim decides whether the hole is a
// torn tail (claim at or below the hole) or corruption (claim above it).
func TestScan_LostRecord(t *testing.T) {
	s2, s3 := segPath(2), segPath(3)
	runScanCases(t, []scanCase{
		{name: "lost record, later claim below the damage",
			log:     func(l [][]testRec) { l[2][4].claim = recOff(2) },
			corrupt: []corruptFunc{zeroRange(s3, recOff(3), recOff(4))},
			want:    scanWant{damaged: true, seg: 3, off: recOff(3), torn: true, records: 9}},
		{name: "lost record, later claim at the damage",
			corrupt: []corruptFunc{zeroRange(s3, recOff(3), recOff(4))},
			want:    scanWant{damaged: true, seg: 3, off: recOff(3), torn: true, records: 9}},
		{name: "lost record, later claim above the damage",
			log:     func(l [][]testRec) { l[2][4].claim = recOff(4) },
			corrupt: []corruptFunc{zeroRange(s3, recOff(3), recOff(4))},
			want:    scanWant{damaged: true, seg: 3, off: recOff(3), records: 9}},
		{name: "lost record in an earlier segment, later claim below",
			corrupt: []corruptFunc{zeroRange(s2, recOff(1), recOff(2))},
			want:    scanWant{damaged: true, seg: 2, off: recOff(1), later: []uint64{3}, records: 4}},
	})
}

func checkScan(t *testing.T, res *ScanResult, txns []uint64, want scanWant) {
	t.Helper()
	if len(txns) != want.records || res.Records != want.records {
		t.Errorf("applied %d records (result says %d), want %d", len(txns), res.Records, want.records)
	}
	for i, txn := range txns {
		if txn != uint64(i+1) {
			t.Fatalf("applied txns %v, want 1..%d in order", txns, want.records)
		}
	}
	if want.records > 0 && (res.FirstTxn != 1 || res.LastTxn != uint64(want.records)) {
		t.Errorf("FirstTxn %d LastTxn %d, want 1 and %d", res.FirstTxn, res.LastTxn, want.records)
	}
	d := res.Damage
	if !want.damaged {
		if d != nil {
			t.Fatalf("unexpected damage %+v", d)
		}
		return
	}
	if d == nil {
		t.Fatalf("no damage found, want %+v", want)
	}
	if d.Segment != want.seg || d.Offset != want.off || d.Torn != want.torn || d.HeaderTorn != want.headerTorn {
		t.Fatalf("damage %+v\nwant segment %d offset %d torn %v headerTorn %v", d, want.seg, want.off, want.torn, want.headerTorn)
	}
	if !equalU64(d.Later, want.later) {
		t.Errorf("Later = %v, want %v", d.Later, want.later)
	}
	if !strings.Contains(d.Reason, want.reason) {
		t.Errorf("reason %q, want it to mention %q", d.Reason, want.reason)
	}
	if d.Path != segPath(want.seg) {
		t.Errorf("path %q, want %q", d.Path, segPath(want.seg))
	}
	cerr := d.Error()
	if !errors.Is(cerr, base.ErrCorrupt) || cerr.File != d.Path || cerr.Offset != d.Offset {
		t.Errorf("Damage.Error() = %v", cerr)
	}
	if d.Offset >= 0 {
		last := res.Segments[len(res.Segments)-1]
		if last.Num != d.Segment || last.ValidEnd != d.Offset {
			t.Errorf("damaged segment info %+v, want ValidEnd at the damage %d", last, d.Offset)
		}
	}
}

// TestScan_DurableEnd: with a durable end recorded (the MANIFEST's log
// end), a log that ends before it, lacks a segment up to it, or is damaged
// before it is corruption, never a torn tail; damage after it is judged by
// the records' synced claims as without one.
func TestScan_DurableEnd(t *testing.T) {
	s3, end := segPath(3), recOff(5)
	closed := Position{3, end, 11}        // the exact end a clean close records
	rotated := Position{3, HeaderSize, 6} // what the rotation to segment 3 records
	tcs := []struct {
		name    string
		end     Position
		corrupt []corruptFunc
		want    scanWant
	}{
		{"closed, intact", closed, nil, scanWant{records: 11}},
		{"closed, cut at a record boundary", closed, []corruptFunc{truncateAt(s3, recOff(4))},
			scanWant{damaged: true, seg: 3, off: recOff(4), records: 10, reason: "before the durable end"}},
		{"closed, cut to half", closed, []corruptFunc{truncateAt(s3, end/2)},
			scanWant{damaged: true, seg: 3, off: recOff(2), records: 8, reason: "cut short"}},
		{"closed, cut mid-record", closed, []corruptFunc{truncateAt(s3, recOff(4)+50)},
			scanWant{damaged: true, seg: 3, off: recOff(4), records: 10, reason: "cut short"}},
		{"closed, tail sector zeroed", closed, []corruptFunc{zeroRange(s3, 512, end)},
			scanWant{damaged: true, seg: 3, off: recOff(3), records: 9, reason: "checksum"}},
		{"closed, whole segment zeroed", closed, []corruptFunc{zeroRange(s3, 0, end)},
			scanWant{damaged: true, seg: 3, off: 0, records: 6, reason: "magic"}},
		{"closed, newest segment removed", closed, []corruptFunc{removeFile(s3)},
			scanWant{damaged: true, seg: 3, off: -1, records: 6, reason: "segment 3 is missing"}},
		{"closed, garbage appended", closed, []corruptFunc{appendBytes(s3, garbage(1, 300))},
			scanWant{damaged: true, seg: 3, off: end, torn: true, records: 11}},
		{"closed, the end is not a record boundary", Position{3, recOff(4) + 7, 11}, nil,
			scanWant{damaged: true, seg: 3, off: recOff(4), records: 10, reason: "runs past the durable end"}},
		{"closed, the end names another txn", Position{3, end, 10}, nil,
			scanWant{damaged: true, seg: 3, off: end, records: 11, reason: "the MANIFEST records txn 10"}},
		{"a newer segment recorded is missing", Position{4, HeaderSize, 11}, nil,
			scanWant{damaged: true, seg: 4, off: -1, records: 11, reason: "segment 4 is missing"}},
		{"rotated, newest segment removed", rotated, []corruptFunc{removeFile(s3)},
			scanWant{damaged: true, seg: 3, off: -1, records: 6, reason: "segment 3 is missing"}},
		{"rotated, newest header zeroed", rotated, []corruptFunc{zeroRange(s3, 0, HeaderSize)},
			scanWant{damaged: true, seg: 3, off: 0, records: 6, reason: "magic"}},
		{"rotated, cut mid-record: the claims decide", rotated, []corruptFunc{truncateAt(s3, recOff(4)+50)},
			scanWant{damaged: true, seg: 3, off: recOff(4), torn: true, records: 10, reason: "cut short"}},
		// The limit of what a crash leaves provable: records 9..11 were
		// synced, but once they are cut no surviving record claims so.
		{"rotated, records no survivor claims cut: a torn tail", rotated, []corruptFunc{truncateAt(s3, recOff(2)+50)},
			scanWant{damaged: true, seg: 3, off: recOff(2), torn: true, records: 8, reason: "cut short"}},
		{"rotated, a record a survivor claims damaged", rotated, []corruptFunc{flipBit(s3, recOff(2)+40, 1)},
			scanWant{damaged: true, seg: 3, off: recOff(2), records: 8, reason: "checksum"}},
		{"at a claim, damage there is a torn tail", Position{3, recOff(3), 9}, []corruptFunc{truncateAt(s3, recOff(3)+10)},
			scanWant{damaged: true, seg: 3, off: recOff(3), torn: true, records: 9, reason: "cut short"}},
		{"closed, a newer segment's header cut short", closed, []corruptFunc{createFile(segPath(4), buildSegment(4, nil)[:12])},
			scanWant{damaged: true, seg: 4, off: 0, torn: true, headerTorn: true, records: 11}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			fsys := vfs.NewMemFS()
			writeLog(t, fsys, defaultLog())
			for _, c := range tc.corrupt {
				c(t, fsys)
			}
			res, txns := scanLogTo(t, fsys, 1, tc.end)
			checkScan(t, res, txns, tc.want)
		})
	}
}

// snapshotFiles returns every file of the log with its content, to check
// that Scan changes nothing.
// copyLog copies testDir from one filesystem to another.
func copyLog(t *testing.T, from, to vfs.FS) {
	t.Helper()
	names, err := from.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.MkdirAll(testDir); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := vfs.ReadFile(from, filepath.Join(testDir, n))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, to, filepath.Join(testDir, n), b)
	}
}

func snapshotFiles(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	names, err := fsys.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, n := range names {
		b, err := vfs.ReadFile(fsys, filepath.Join(testDir, n))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s %x\n", n, b)
	}
	return sb.String()
}

func TestScan_SegmentInfo(t *testing.T) {
	fsys := vfs.NewMemFS()
	writeLog(t, fsys, defaultLog())
	appendBytes(segPath(3), make([]byte, 64))(t, fsys)
	res, _ := scanLog(t, fsys, 1)
	want := []SegmentInfo{
		{Num: 1, Path: segPath(1), Version: 2, Size: recOff(3), ValidEnd: recOff(3), Records: 3, FirstTxn: 1, LastTxn: 3},
		{Num: 2, Path: segPath(2), Version: 2, Size: recOff(3), ValidEnd: recOff(3), Records: 3, FirstTxn: 4, LastTxn: 6},
		{Num: 3, Path: segPath(3), Version: 2, Size: recOff(5) + 64, ValidEnd: recOff(5), Rest: true, Records: 5, FirstTxn: 7, LastTxn: 11},
	}
	if len(res.Segments) != len(want) {
		t.Fatalf("segments %+v", res.Segments)
	}
	for i := range want {
		if res.Segments[i] != want[i] {
			t.Errorf("segment %d: %+v, want %+v", i, res.Segments[i], want[i])
		}
	}
}

// TestScan_FirstSegment: segments before the MANIFEST's active segment are
// leftovers of a compaction: listed as ignored, never read, even if damaged.
func TestScan_FirstSegment(t *testing.T) {
	fsys := vfs.NewMemFS()
	writeLog(t, fsys, defaultLog())
	flipBit(segPath(1), 40, 0)(t, fsys)
	res, txns := scanLog(t, fsys, 2)
	if res.Damage != nil {
		t.Fatalf("damage %+v", res.Damage)
	}
	if !equalU64(res.Ignored, []uint64{1}) {
		t.Fatalf("Ignored = %v", res.Ignored)
	}
	if len(txns) != 8 || txns[0] != 4 || res.FirstTxn != 4 || res.LastTxn != 11 {
		t.Fatalf("applied %v, first %d last %d", txns, res.FirstTxn, res.LastTxn)
	}
}

// TestScan_EmptyLog: a fresh database has one segment holding only its
// header.
func TestScan_EmptyLog(t *testing.T) {
	fsys := vfs.NewMemFS()
	writeLog(t, fsys, [][]testRec{nil})
	res, txns := scanLog(t, fsys, 1)
	if res.Damage != nil || len(txns) != 0 || res.FirstTxn != 0 || res.LastTxn != 0 || len(res.Segments) != 1 {
		t.Fatalf("scan of an empty log: %+v, applied %v", res, txns)
	}
}

// TestScan_ApplyError: a record that decodes but does not apply is damage
// no crash explains, even at the tail of the last segment.
func TestScan_ApplyError(t *testing.T) {
	fsys := vfs.NewMemFS()
	writeLog(t, fsys, defaultLog())
	boom := errors.New("boom")
	res, err := Scan(ScanOptions{
		FS: fsys, Dir: testDir, UUID: testUUID, MaxRecordSize: testMaxLen, FirstSegment: 1,
		Apply: func(_ uint64, _ int64, r Record) error {
			if r.Txn == 11 {
				return boom
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Damage
	if d == nil || d.Segment != 3 || d.Offset != recOff(4) || d.Torn || !strings.Contains(d.Reason, "boom") {
		t.Fatalf("damage %+v, want corruption at the last record", d)
	}
	if res.Records != 10 {
		t.Fatalf("records %d", res.Records)
	}
}

// TestScan_WrongUUID: a log from another database is corruption at the
// first header.
func TestScan_WrongUUID(t *testing.T) {
	fsys := vfs.NewMemFS()
	writeLog(t, fsys, defaultLog())
	other := testUUID
	other[0] ^= 0xff
	res, err := Scan(ScanOptions{FS: fsys, Dir: testDir, UUID: other, MaxRecordSize: testMaxLen, FirstSegment: 1,
		Apply: func(uint64, int64, Record) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Damage; d == nil || d.Segment != 1 || d.Offset != 0 || d.Torn || d.HeaderTorn {
		t.Fatalf("damage %+v", d)
	}
}

func TestScan_MissingDir(t *testing.T) {
	_, err := Scan(ScanOptions{FS: vfs.NewMemFS(), Dir: testDir, UUID: testUUID, MaxRecordSize: testMaxLen, FirstSegment: 1})
	if err == nil {
		t.Fatalf("Scan of a missing directory succeeded")
	}
}

// TestScan_FormatV1: a log of format version 1 is still read, by its own
// rules: zeros after its records are a torn tail (it was never written
// ahead), and a record of another version in it is damage.
func TestScan_FormatV1(t *testing.T) {
	v1 := func(extra []byte) []byte {
		b := AppendHeaderV1(nil, 1, testUUID)
		for txn := uint64(1); txn <= 3; txn++ {
			b = AppendRecordV1(b, txn, int64(txn), HeaderSize, testPayload(txn))
		}
		return append(b, extra...)
	}
	end := int64(len(v1(nil)))
	tcs := []struct {
		name string
		data []byte
		want scanWant
	}{
		{"intact", v1(nil), scanWant{records: 3}},
		{"zeros appended", v1(make([]byte, 100)), scanWant{damaged: true, seg: 1, off: end, torn: true, records: 3, reason: "length"}},
		{"a version 2 record appended", v1(AppendRecord(nil, 1, 4, 0, HeaderSize, testPayload(4))),
			scanWant{damaged: true, seg: 1, off: end, torn: true, records: 3, reason: "version"}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			fsys := vfs.NewMemFS()
			if err := fsys.MkdirAll(testDir); err != nil {
				t.Fatal(err)
			}
			writeFile(t, fsys, segPath(1), tc.data)
			res, txns := scanLog(t, fsys, 1)
			checkScan(t, res, txns, tc.want)
		})
	}
}

// TestScan_MappedFault: a segment cut short by someone else while it is
// read through its mapping is a *FaultError matching syscall.EIO, not a
// crash; a panic of Apply's own goes on as it was.
func TestScan_MappedFault(t *testing.T) {
	t.Chdir(t.TempDir())
	writeLog(t, vfs.OS, defaultLog())
	if _, release, ok := mapSegment(vfs.OS, segPath(3)); !ok {
		t.Skip("skipping: the temporary directory's filesystem is not mapped")
	} else {
		release()
	}
	scan := func(apply func(Record)) (err error) {
		_, err = Scan(ScanOptions{FS: vfs.OS, Dir: testDir, UUID: testUUID, MaxRecordSize: testMaxLen, FirstSegment: 1, Map: true,
			Apply: func(_ uint64, _ int64, r Record) error { apply(r); return nil }})
		return err
	}
	err := scan(func(r Record) {
		if r.Txn == 7 { // the first record of segment 3
			if err := os.Truncate(segPath(3), 0); err != nil {
				t.Fatal(err)
			}
		}
	})
	var fe *FaultError
	if !errors.As(err, &fe) || !errors.Is(err, syscall.EIO) || fe.Path != segPath(3) || fe.Offset < recOff(1) || fe.Offset >= recOff(2) {
		t.Fatalf("Scan with segment 3 cut short under it = %v, want a *FaultError in record 2 (%d..%d) of %s matching EIO", err, recOff(1), recOff(2), segPath(3))
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("Apply's panic came out as %v, want boom", r)
		}
	}()
	scan(func(Record) { panic("boom") })
}
