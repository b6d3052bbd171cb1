package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Wire constants. Never change them: files written by earlier builds must
// keep reading.
const (
	// HeaderSize is the size of a segment header.
	HeaderSize = 32
	// FormatVersion is the segment and record format version written.
	// Version 1 (FormatV1) is still read.
	FormatVersion = 2
	// FormatV1 is the first format: records without a segment number.
	FormatV1 = 1
	// lengthSize is the size of a record's length prefix.
	lengthSize = 4
	// fixedBodyV1 is what a version 1 record holds besides its writeset,
	// after the length: version, txn id, timestamp, synced offset and CRC.
	fixedBodyV1 = 1 + 8 + 8 + 8 + 4
	// fixedBody is the same for version 2, which adds the segment number.
	fixedBody = 1 + 8 + 8 + 8 + 8 + 4
	// RecordOverhead is every byte of a record that is not writeset.
	RecordOverhead = lengthSize + fixedBody
	// RecordOverheadV1 is RecordOverhead for version 1.
	RecordOverheadV1 = lengthSize + fixedBodyV1
)

var segmentMagic = [4]byte{'I', 'M', 'W', 'L'}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Damage reasons found while decoding a record.
var (
	errShort    = errors.New("record cut short")
	errLength   = errors.New("record length out of range")
	errVersion  = errors.New("unknown record format version")
	errChecksum = errors.New("record checksum mismatch")
	errClaim    = errors.New("record claims a synced offset beyond itself")
)

// Record is one decoded log record. Payload aliases the buffer it was
// decoded from.
type Record struct {
	Version uint8  // the record's format version
	Segment uint64 // the segment it was written for (0 in version 1)
	Txn     uint64
	TS      int64
	Synced  int64
	Payload []byte
}

// AppendRecord appends the encoding of a record of segment seg to dst, in
// the current format.
func AppendRecord(dst []byte, seg, txn uint64, ts int64, synced int64, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(fixedBody+len(payload)))
	dst = append(dst, FormatVersion)
	dst = binary.LittleEndian.AppendUint64(dst, seg)
	return sealRecord(dst, start, txn, ts, synced, payload)
}

// AppendRecordV1 appends a record in format version 1, which names no
// segment: what earlier builds wrote, for tests of the old format.
func AppendRecordV1(dst []byte, txn uint64, ts int64, synced int64, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(fixedBodyV1+len(payload)))
	dst = append(dst, FormatV1)
	return sealRecord(dst, start, txn, ts, synced, payload)
}

// sealRecord appends the fields both versions share and the CRC of the
// record that starts at start.
func sealRecord(dst []byte, start int, txn uint64, ts, synced int64, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, txn)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ts))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(synced))
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// DecodeRecord decodes the record at the start of b, of either version.
// maxLen bounds the length field (the size of everything after the length
// prefix); off is the record's offset in its segment, which its synced
// claim may not exceed. It returns the record and its total size. Whether
// the record belongs where it lies (its version that of its segment, its
// segment number the segment's) is the caller's to check.
func DecodeRecord(b []byte, off int64, maxLen int) (Record, int, error) {
	if len(b) < lengthSize {
		return Record{}, 0, errShort
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < minBody(b) || n > maxLen {
		return Record{}, 0, fmt.Errorf("%w: %d", errLength, n)
	}
	if len(b)-lengthSize < n {
		return Record{}, 0, errShort
	}
	total := lengthSize + n
	want := binary.LittleEndian.Uint32(b[total-4:])
	if got := crc32.Checksum(b[:total-4], crcTable); got != want {
		return Record{}, 0, fmt.Errorf("%w: stored %08x computed %08x", errChecksum, want, got)
	}
	r, err := decodeFields(b[:total-4])
	if err != nil {
		return Record{}, 0, err
	}
	if r.Synced < 0 || r.Synced > off {
		return Record{}, 0, fmt.Errorf("%w: %d at offset %d", errClaim, r.Synced, off)
	}
	return r, total, nil
}

// minBody is the least a record's length field may say: by the version
// byte, if b holds it (it is checked with the CRC).
func minBody(b []byte) int {
	if len(b) > lengthSize && b[lengthSize] == FormatV1 {
		return fixedBodyV1
	}
	return fixedBody
}

// decodeFields decodes the fields of a record whose frame and CRC are
// checked: body is the record without its CRC.
func decodeFields(body []byte) (Record, error) {
	r := Record{Version: body[lengthSize]}
	at := lengthSize + 1
	switch r.Version {
	case FormatV1:
	case FormatVersion:
		r.Segment = binary.LittleEndian.Uint64(body[at:])
		at += 8
	default:
		return Record{}, fmt.Errorf("%w: %d", errVersion, r.Version)
	}
	r.Txn = binary.LittleEndian.Uint64(body[at:])
	r.TS = int64(binary.LittleEndian.Uint64(body[at+8:]))
	r.Synced = int64(binary.LittleEndian.Uint64(body[at+16:]))
	r.Payload = body[at+24:]
	return r, nil
}

// plausible is a cheap filter run before the CRC when searching for valid
// records of format version v after damage at every byte offset.
func plausible(b []byte, maxLen int, v uint8) bool {
	min := fixedBody
	if v == FormatV1 {
		min = fixedBodyV1
	}
	if len(b) < lengthSize+min {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b))
	return n >= min && n <= maxLen && n <= len(b)-lengthSize && b[lengthSize] == v
}

// SegmentHeader is the decoded header of a segment.
type SegmentHeader struct {
	Version uint32
	Num     uint64
	UUID    [16]byte
}

// AppendHeader appends the header of segment num, in the current format,
// to dst.
func AppendHeader(dst []byte, num uint64, uuid [16]byte) []byte {
	return appendHeaderVersion(dst, FormatVersion, num, uuid)
}

// AppendHeaderV1 appends a header of format version 1: what earlier builds
// wrote, for tests of the old format.
func AppendHeaderV1(dst []byte, num uint64, uuid [16]byte) []byte {
	return appendHeaderVersion(dst, FormatV1, num, uuid)
}

func appendHeaderVersion(dst []byte, v uint32, num uint64, uuid [16]byte) []byte {
	dst = append(dst, segmentMagic[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, v)
	dst = binary.LittleEndian.AppendUint64(dst, num)
	return append(dst, uuid[:]...)
}

// DecodeHeader decodes a segment header.
func DecodeHeader(b []byte) (SegmentHeader, error) {
	if len(b) < HeaderSize {
		return SegmentHeader{}, fmt.Errorf("segment header cut short (%d bytes)", len(b))
	}
	if [4]byte(b[:4]) != segmentMagic {
		return SegmentHeader{}, fmt.Errorf("bad segment magic %q", b[:4])
	}
	h := SegmentHeader{
		Version: binary.LittleEndian.Uint32(b[4:]),
		Num:     binary.LittleEndian.Uint64(b[8:]),
		UUID:    [16]byte(b[16:32]),
	}
	if h.Version != FormatVersion && h.Version != FormatV1 {
		return h, fmt.Errorf("unsupported segment format version %d", h.Version)
	}
	return h, nil
}
