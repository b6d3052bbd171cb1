package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// testMaxLen is the length bound the tests decode with: far above every test
// record, far below what a damaged length field usually holds.
const testMaxLen = 1 << 16

var testUUID = [16]byte{0x69, 0x6e, 0x2d, 0x6d, 0x65, 0x6d, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// reseal recomputes the CRC of the record at the start of b after a test
// changed one of its fields, so that only the intended check fails.
func reseal(b []byte) []byte {
	n := int(binary.LittleEndian.Uint32(b))
	total := lengthSize + n
	binary.LittleEndian.PutUint32(b[total-4:], crc32.Checksum(b[:total-4], crcTable))
	return b
}

func TestRecord_RoundTrip(t *testing.T) {
	tcs := []struct {
		name    string
		txn     uint64
		ts      int64
		synced  int64
		off     int64
		payload []byte
	}{
		{name: "empty payload", txn: 1, ts: 0, synced: 32, off: 32, payload: nil},
		{name: "small", txn: 2, ts: 1_700_000_000_000_000, synced: 32, off: 100, payload: []byte("hello")},
		{name: "negative ts", txn: 3, ts: -5, synced: 0, off: 0, payload: []byte{0}},
		{name: "max txn", txn: ^uint64(0), ts: 1<<63 - 1, synced: 1 << 40, off: 1 << 41, payload: bytes.Repeat([]byte{0xff}, 1000)},
		{name: "claim equals offset", txn: 9, ts: 9, synced: 4096, off: 4096, payload: []byte("x")},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := AppendRecord(prefix, 1, tc.txn, tc.ts, tc.synced, tc.payload)
			if !bytes.Equal(b[:len(prefix)], prefix) {
				t.Fatalf("AppendRecord changed the bytes before it")
			}
			enc := b[len(prefix):]
			if want := RecordOverhead + len(tc.payload); len(enc) != want {
				t.Fatalf("encoded size %d, want %d", len(enc), want)
			}
			// Trailing bytes belong to the next record and must be left alone.
			r, n, err := DecodeRecord(append(enc, 0xde, 0xad), tc.off, testMaxLen)
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if n != len(enc) {
				t.Fatalf("size %d, want %d", n, len(enc))
			}
			if r.Txn != tc.txn || r.TS != tc.ts || r.Synced != tc.synced || !bytes.Equal(r.Payload, tc.payload) {
				t.Fatalf("decoded %+v, want txn %d ts %d synced %d payload %q", r, tc.txn, tc.ts, tc.synced, tc.payload)
			}
		})
	}
}

// TestRecord_Layout pins the field positions docs/design.md documents,
// independently of the golden file.
func TestRecord_Layout(t *testing.T) {
	b := AppendRecord(nil, 0x3132333435363738, 0x0102030405060708, 0x1112131415161718, 0x21, []byte("ws"))
	le := binary.LittleEndian
	if got := le.Uint32(b); got != 37+2 {
		t.Errorf("length field %d, want 39", got)
	}
	if b[4] != 2 {
		t.Errorf("version byte %d", b[4])
	}
	if le.Uint64(b[5:]) != 0x3132333435363738 {
		t.Errorf("segment field misplaced: % x", b[5:13])
	}
	if le.Uint64(b[13:]) != 0x0102030405060708 || le.Uint64(b[21:]) != 0x1112131415161718 || le.Uint64(b[29:]) != 0x21 {
		t.Errorf("txn/ts/synced fields misplaced: % x", b[13:37])
	}
	if string(b[37:39]) != "ws" {
		t.Errorf("payload misplaced: % x", b[37:39])
	}
	if got, want := le.Uint32(b[39:]), crc32.Checksum(b[:39], crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Errorf("CRC %08x, want CRC-32C of every earlier byte %08x", got, want)
	}
}

// TestRecordV1_Layout pins format version 1, which is still read.
func TestRecordV1_Layout(t *testing.T) {
	b := AppendRecordV1(nil, 0x0102030405060708, 0x1112131415161718, 0x21, []byte("ws"))
	le := binary.LittleEndian
	if got := le.Uint32(b); got != 29+2 || b[4] != 1 {
		t.Errorf("length field %d, version %d; want 31, 1", got, b[4])
	}
	if le.Uint64(b[5:]) != 0x0102030405060708 || le.Uint64(b[13:]) != 0x1112131415161718 || le.Uint64(b[21:]) != 0x21 {
		t.Errorf("txn/ts/synced fields misplaced: % x", b[5:29])
	}
	r, n, err := DecodeRecord(b, 0x21, testMaxLen)
	if err != nil || n != len(b) || r.Version != 1 || r.Segment != 0 || r.Txn != 0x0102030405060708 || string(r.Payload) != "ws" {
		t.Fatalf("decoded %+v, %d, %v", r, n, err)
	}
}

func TestDecodeRecord_Rejects(t *testing.T) {
	good := AppendRecord(nil, 1, 7, 70, 32, []byte("payload"))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tcs := []struct {
		name   string
		b      []byte
		off    int64
		maxLen int
		want   error
	}{
		{name: "empty", b: nil, off: 32, maxLen: testMaxLen, want: errShort},
		{name: "three bytes", b: good[:3], off: 32, maxLen: testMaxLen, want: errShort},
		{name: "length only", b: good[:4], off: 32, maxLen: testMaxLen, want: errShort},
		{name: "cut before CRC", b: good[:len(good)-1], off: 32, maxLen: testMaxLen, want: errShort},
		{name: "zero length", b: make([]byte, 64), off: 32, maxLen: testMaxLen, want: errLength},
		{name: "length below minimum", b: mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b, fixedBody-1)
			return b
		}), off: 32, maxLen: testMaxLen, want: errLength},
		{name: "length field all ones", b: mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b, 0xffffffff)
			return b
		}), off: 32, maxLen: testMaxLen, want: errLength},
		{name: "length one above max", b: good, off: 32, maxLen: len(good) - lengthSize - 1, want: errLength},
		{name: "length beyond input", b: mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b, uint32(len(b)))
			return b
		}), off: 32, maxLen: testMaxLen, want: errShort},
		{name: "bad CRC", b: mut(func(b []byte) []byte {
			b[len(b)-1] ^= 1
			return b
		}), off: 32, maxLen: testMaxLen, want: errChecksum},
		{name: "payload bit flip", b: mut(func(b []byte) []byte {
			b[30] ^= 0x10
			return b
		}), off: 32, maxLen: testMaxLen, want: errChecksum},
		{name: "bad version", b: mut(func(b []byte) []byte {
			b[lengthSize] = FormatVersion + 1
			return reseal(b)
		}), off: 32, maxLen: testMaxLen, want: errVersion},
		{name: "version zero", b: mut(func(b []byte) []byte {
			b[lengthSize] = 0
			return reseal(b)
		}), off: 32, maxLen: testMaxLen, want: errVersion},
		{name: "synced claim beyond offset", b: good, off: 31, maxLen: testMaxLen, want: errClaim},
		{name: "negative synced claim", b: reseal(AppendRecord(nil, 1, 7, 70, -1, nil)), off: 32, maxLen: testMaxLen, want: errClaim},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			r, n, err := DecodeRecord(tc.b, tc.off, tc.maxLen)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeRecord error %v, want %v", err, tc.want)
			}
			if n != 0 || r.Payload != nil {
				t.Fatalf("failed decode returned size %d, payload %q", n, r.Payload)
			}
		})
	}
}

// TestDecodeRecord_NoAllocs: decoding aliases the input; it allocates
// nothing, whatever the length field claims.
func TestDecodeRecord_NoAllocs(t *testing.T) {
	b := AppendRecord(nil, 1, 1, 2, 32, bytes.Repeat([]byte("v"), 500))
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeRecord(b, 32, testMaxLen); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("DecodeRecord allocated %.1f times per call", allocs)
	}
	r, _, _ := DecodeRecord(b, 32, testMaxLen)
	if &r.Payload[0] != &b[37] {
		t.Fatalf("payload does not alias the input")
	}
}

func TestPlausible(t *testing.T) {
	good := AppendRecord(nil, 1, 1, 1, 0, []byte("abc"))
	tcs := []struct {
		name string
		b    []byte
		want bool
	}{
		{"valid", good, true},
		{"short", good[:RecordOverhead-1], false},
		{"zeros", make([]byte, 64), false},
		{"bad version", append([]byte{byte(len(good) - 4), 0, 0, 0, 9}, good[5:]...), false},
		{"length past end", good[:len(good)-1], false},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			if got := plausible(tc.b, testMaxLen, FormatVersion); got != tc.want {
				t.Fatalf("plausible = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecodeRecord_LengthAtMax: maxLen is inclusive.
func TestDecodeRecord_LengthAtMax(t *testing.T) {
	b := AppendRecord(nil, 1, 1, 1, 0, []byte("abc"))
	if _, _, err := DecodeRecord(b, 0, len(b)-lengthSize); err != nil {
		t.Fatalf("record whose length equals maxLen rejected: %v", err)
	}
}
