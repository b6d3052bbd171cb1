package wal

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
)

func TestSegmentHeader_RoundTrip(t *testing.T) {
	for _, num := range []uint64{1, 2, 999999, 1000000, ^uint64(0)} {
		b := AppendHeader([]byte("x"), num, testUUID)[1:]
		if len(b) != HeaderSize {
			t.Fatalf("header is %d bytes, want %d", len(b), HeaderSize)
		}
		if string(b[:4]) != "IMWL" {
			t.Fatalf("magic %q", b[:4])
		}
		h, err := DecodeHeader(b)
		if err != nil {
			t.Fatalf("DecodeHeader(%d): %v", num, err)
		}
		if h != (SegmentHeader{Version: FormatVersion, Num: num, UUID: testUUID}) {
			t.Fatalf("decoded %+v", h)
		}
	}
}

func TestDecodeHeader_Rejects(t *testing.T) {
	good := AppendHeader(nil, 3, testUUID)
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tcs := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "cut short"},
		{"31 bytes", good[:31], "cut short"},
		{"bad magic", mut(func(b []byte) { b[0] = 'X' }), "magic"},
		{"zeros", make([]byte, HeaderSize), "magic"},
		{"version 0", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 0) }), "version 0"},
		{"version 3", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 3) }), "version 3"},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeHeader(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeHeader error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCheckHeader covers the mismatches DecodeHeader cannot see: the
// segment number and the database UUID.
func TestCheckHeader(t *testing.T) {
	other := testUUID
	other[15] ^= 1
	tcs := []struct {
		name string
		b    []byte
		num  uint64
		want string // "" for a match
	}{
		{"match", AppendHeader(nil, 4, testUUID), 4, ""},
		{"match with records after", append(AppendHeader(nil, 4, testUUID), 1, 2, 3), 4, ""},
		{"number mismatch", AppendHeader(nil, 5, testUUID), 4, "header names segment 5"},
		{"uuid mismatch", AppendHeader(nil, 4, other), 4, "belongs to database"},
		{"cut short", AppendHeader(nil, 4, testUUID)[:20], 4, "cut short"},
		{"bad magic", append([]byte("IMWX"), AppendHeader(nil, 4, testUUID)[4:]...), 4, "magic"},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			got := checkHeader(tc.b, tc.num, testUUID)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("checkHeader = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSegmentName(t *testing.T) {
	tcs := []struct {
		name string
		num  uint64
		ok   bool
	}{
		{"wal-000001.seg", 1, true},
		{"wal-000042.seg", 42, true},
		{"wal-999999.seg", 999999, true},
		{"wal-1000000.seg", 1000000, true},
		{"wal-18446744073709551615.seg", ^uint64(0), true},
		{"wal-000000.seg", 0, false},               // segments start at 1
		{"wal-00001.seg", 0, false},                // fewer than six digits
		{"wal-0000001.seg", 0, false},              // not what SegmentName writes
		{"wal-01000000.seg", 0, false},             // leading zero beyond six digits
		{"wal-000001.seg.tmp", 0, false},           // wrong suffix
		{"wal-000001", 0, false},                   // no suffix
		{"WAL-000001.seg", 0, false},               // case matters
		{"xwal-000001.seg", 0, false},              // prefix
		{"wal-+00001.seg", 0, false},               // sign
		{"wal-00000a.seg", 0, false},               // not decimal
		{"wal-18446744073709551616.seg", 0, false}, // overflows u64
		{"", 0, false},
		{"MANIFEST", 0, false},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			num, ok := ParseSegmentName(tc.name)
			if num != tc.num || ok != tc.ok {
				t.Fatalf("ParseSegmentName(%q) = %d, %v; want %d, %v", tc.name, num, ok, tc.num, tc.ok)
			}
			if ok && SegmentName(num) != tc.name {
				t.Fatalf("SegmentName(%d) = %q, want %q", num, SegmentName(num), tc.name)
			}
		})
	}
}

func TestListSegments(t *testing.T) {
	fsys := vfs.NewMemFS()
	if err := fsys.MkdirAll("db/WAL"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"wal-000010.seg", "wal-000002.seg", "junk", "wal-000001.seg.tmp", "wal-1000000.seg", "wal-000003.seg"} {
		f, err := fsys.Create("db/WAL/" + n)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	got, err := ListSegments(fsys, "db/WAL")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{2, 3, 10, 1000000}
	if !equalU64(got, want) {
		t.Fatalf("ListSegments = %v, want %v", got, want)
	}
	if _, err := ListSegments(fsys, "db/missing"); err == nil {
		t.Fatalf("ListSegments of a missing directory succeeded")
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCreateSegment_Durable: a created segment survives a power loss that
// drops everything unsynced, header included, and the crash point sits
// between the header write and the syncs.
func TestCreateSegment_Durable(t *testing.T) {
	fsys := vfs.NewMemFS()
	if err := fsys.MkdirAll("WAL"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.SyncDir(fsys, "."); err != nil {
		t.Fatal(err)
	}
	cps := crashpoint.New()
	var atPoint *vfs.MemFS
	cps.Arm(crashpoint.OnHit(crashpoint.DuringSegmentRotation, 1), func(crashpoint.Point) {
		atPoint = fsys.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	})
	f, err := CreateSegment(fsys, "WAL", 7, testUUID, cps)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if atPoint == nil {
		t.Fatalf("DuringSegmentRotation was not hit")
	}
	if ok, _ := vfs.Exists(atPoint, "WAL/wal-000007.seg"); ok {
		t.Fatalf("segment durable before its syncs")
	}
	crashed := fsys.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	b, err := vfs.ReadFile(crashed, "WAL/wal-000007.seg")
	if err != nil {
		t.Fatalf("segment lost after CreateSegment returned: %v", err)
	}
	if !bytes.Equal(b, AppendHeader(nil, 7, testUUID)) {
		t.Fatalf("durable segment holds % x", b)
	}
}
