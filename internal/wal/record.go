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
	// FormatVersion is the segment and record format version.
	FormatVersion = 1
	// lengthSize is the size of a record's length prefix.
	lengthSize = 4
	// fixedBody is what a record holds besides its writeset, after the
	// length: version, txn id, timestamp, synced offset and CRC.
	fixedBody = 1 + 8 + 8 + 8 + 4
	// RecordOverhead is every byte of a record that is not writeset.
	RecordOverhead = lengthSize + fixedBody
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
	Txn     uint64
	TS      int64
	Synced  int64
	Payload []byte
}

// AppendRecord appends the encoding of a record to dst.
func AppendRecord(dst []byte, txn uint64, ts int64, synced int64, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(fixedBody+len(payload)))
	dst = append(dst, FormatVersion)
	dst = binary.LittleEndian.AppendUint64(dst, txn)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ts))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(synced))
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// DecodeRecord decodes the record at the start of b. maxLen bounds the
// length field (the size of everything after the length prefix); off is the
// record's offset in its segment, which its synced claim may not exceed. It
// returns the record and its total size.
func DecodeRecord(b []byte, off int64, maxLen int) (Record, int, error) {
	if len(b) < lengthSize {
		return Record{}, 0, errShort
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < fixedBody || n > maxLen {
		return Record{}, 0, fmt.Errorf("%w: %d", errLength, n)
	}
	if len(b)-lengthSize < n {
		return Record{}, 0, errShort
	}
	total := lengthSize + n
	body := b[:total-4]
	want := binary.LittleEndian.Uint32(b[total-4:])
	if got := crc32.Checksum(body, crcTable); got != want {
		return Record{}, 0, fmt.Errorf("%w: stored %08x computed %08x", errChecksum, want, got)
	}
	if b[lengthSize] != FormatVersion {
		return Record{}, 0, fmt.Errorf("%w: %d", errVersion, b[lengthSize])
	}
	r := Record{
		Txn:     binary.LittleEndian.Uint64(b[5:]),
		TS:      int64(binary.LittleEndian.Uint64(b[13:])),
		Synced:  int64(binary.LittleEndian.Uint64(b[21:])),
		Payload: b[29 : total-4],
	}
	if r.Synced < 0 || r.Synced > off {
		return Record{}, 0, fmt.Errorf("%w: %d at offset %d", errClaim, r.Synced, off)
	}
	return r, total, nil
}

// plausible is a cheap filter run before the CRC when searching for valid
// records after damage at every byte offset.
func plausible(b []byte, maxLen int) bool {
	if len(b) < RecordOverhead {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b))
	return n >= fixedBody && n <= maxLen && n <= len(b)-lengthSize && b[lengthSize] == FormatVersion
}

// SegmentHeader is the decoded header of a segment.
type SegmentHeader struct {
	Version uint32
	Num     uint64
	UUID    [16]byte
}

// AppendHeader appends the encoding of h to dst.
func AppendHeader(dst []byte, num uint64, uuid [16]byte) []byte {
	dst = append(dst, segmentMagic[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, FormatVersion)
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
	if h.Version != FormatVersion {
		return h, fmt.Errorf("unsupported segment format version %d", h.Version)
	}
	return h, nil
}
