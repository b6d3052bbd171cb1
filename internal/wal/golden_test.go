package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/in-mem/inmem/internal/writeset"
	"github.com/in-mem/inmem/vfs"
)

// goldenSegments are the paths of the byte-exact segments of each format
// version. Regenerate one only for a new format version, never to make a
// test pass: go test ./internal/wal -run Golden -update
var goldenSegments = map[uint32]string{
	FormatV1:      filepath.Join("testdata", "golden", "v1", SegmentName(1)),
	FormatVersion: filepath.Join("testdata", "golden", "v2", SegmentName(1)),
}

var goldenRun = [16]byte{'r', 'u', 'n', '-', 'g', 'o', 'l', 'd', 'e', 'n', 0, 0, 0, 0, 0, 1}

// goldenRecords are the records of the golden segment: writesets as the
// engine writes them (identity codec), fixed timestamps, and the synced
// claims a Strict writer with one committer makes.
func goldenRecords(v uint32) []Record {
	ws := [][]writeset.Mutation{
		{{Kind: writeset.CreateRun, Run: goldenRun, Key: "orders"}},
		{{Kind: writeset.KVPut, Run: goldenRun, Key: "k1", Value: []byte("v1")},
			{Kind: writeset.EventAppend, Run: goldenRun, Value: []byte("ev0"), Seq: 0}},
		{{Kind: writeset.KVDelete, Run: goldenRun, Key: "k1"},
			{Kind: writeset.StateSet, Run: goldenRun, Key: "cell", Value: []byte{0, 1, 2}}},
	}
	var out []Record
	off := int64(HeaderSize)
	for i, w := range ws {
		p := writeset.Append(nil, w)
		r := Record{Version: uint8(v), Txn: uint64(i + 1), TS: 1_764_000_000_000_000 + int64(i), Synced: off, Payload: p}
		overhead := RecordOverheadV1
		if v == FormatVersion {
			r.Segment, overhead = 1, RecordOverhead
		}
		out = append(out, r)
		off += int64(overhead + len(p))
	}
	return out
}

func goldenSegmentBytes(v uint32) []byte {
	if v == FormatV1 {
		b := AppendHeaderV1(nil, 1, testUUID)
		for _, r := range goldenRecords(v) {
			b = AppendRecordV1(b, r.Txn, r.TS, r.Synced, r.Payload)
		}
		return b
	}
	b := AppendHeader(nil, 1, testUUID)
	for _, r := range goldenRecords(v) {
		b = AppendRecord(b, 1, r.Txn, r.TS, r.Synced, r.Payload)
	}
	return b
}

// TestGolden_Segment: the encoders still write every format version byte
// for byte, and the scanner still reads what each wrote: a version 2
// segment also with its rest written ahead with zeros.
func TestGolden_Segment(t *testing.T) {
	for v, path := range goldenSegments {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			want := checkGolden(t, path, goldenSegmentBytes(v))
			scanGolden(t, v, want)
			if v == FormatVersion {
				scanGolden(t, v, append(want, make([]byte, 4096)...))
			}
		})
	}
}

// checkGolden compares got with the golden file at path (rewriting it
// with -update) and returns the file's bytes.
func checkGolden(t *testing.T, goldenSegment string, got []byte) []byte {
	t.Helper()
	if *update && goldenSegments[FormatVersion] == goldenSegment {
		if err := os.MkdirAll(filepath.Dir(goldenSegment), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenSegment, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", goldenSegment)
	}
	want, err := os.ReadFile(goldenSegment)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from %s at byte %d:\ngot  % x\nwant % x", goldenSegment, firstDiff(got, want), got, want)
	}
	return want
}

// scanGolden scans a golden segment and checks every record.
func scanGolden(t *testing.T, v uint32, want []byte) {
	t.Helper()
	fsys := vfs.NewMemFS()
	if err := fsys.MkdirAll(testDir); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsys, segPath(1), want)
	var read []Record
	res, err := Scan(ScanOptions{FS: fsys, Dir: testDir, UUID: testUUID, MaxRecordSize: testMaxLen, FirstSegment: 1,
		Apply: func(_ uint64, _ int64, r Record) error {
			read = append(read, r)
			return nil
		}})
	if err != nil || res.Damage != nil {
		t.Fatalf("scan of the golden segment: %+v, %v", res, err)
	}
	wantRecs := goldenRecords(v)
	if len(read) != len(wantRecs) {
		t.Fatalf("read %d records, want %d", len(read), len(wantRecs))
	}
	for i, r := range read {
		w := wantRecs[i]
		if r.Version != w.Version || r.Segment != w.Segment || r.Txn != w.Txn || r.TS != w.TS || r.Synced != w.Synced || !bytes.Equal(r.Payload, w.Payload) {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
		if _, err := writeset.Decode(r.Payload); err != nil {
			t.Errorf("record %d: writeset: %v", i, err)
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
