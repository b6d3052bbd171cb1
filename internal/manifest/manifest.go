// Package manifest reads and writes the MANIFEST: the small file that says
// which database a directory holds, where recovery starts, and how far the
// log is known to be durable.
//
// # Format
//
// Version 2, all integers little-endian:
//
//	0      4         8               24               32            40          48
//	+------+---------+---------------+----------------+-------------+-----------+
//	| magic| version | database UUID | active segment | snapshot id | watermark |
//	|"IMMF"| u32 (2) |   16 bytes    |      u64       |     u64     |    u64    |
//	+------+---------+---------------+----------------+-------------+-----------+
//	48              56             64           72         74         74+n
//	+---------------+--------------+------------+----------+----------+---------+
//	| log end:      | log end:     | log end:   | codec id | codec id | CRC-32C |
//	| segment u64   | offset u64   | txn u64    | len u16  | n bytes  | u32     |
//	+---------------+--------------+------------+----------+----------+---------+
//
// The CRC covers every byte before it. The active segment is the segment
// that was active when the last snapshot was taken: recovery reads the log
// from there, and every earlier segment holds only records at or below the
// watermark. Snapshot id 0 means no snapshot (watermark 0).
//
// # The durable end of the log
//
// The log end is a place in the log (segment, byte offset, and the txn id
// of the last record before it) that the engine knows to be durable: every
// byte of the log before it was synced before this MANIFEST was written.
// Recovery refuses, as corruption, a log that ends before it or lacks a
// segment up to its segment, and damage before it is never a torn tail.
// It only moves forward, and is written:
//
//   - at creation: segment 1, just past its header;
//   - at each rotation, once the new segment and its directory entry are
//     durable: the new segment, just past its header. A deleted newest
//     segment is then always noticed;
//   - at each checkpoint: where the log was synced to;
//   - at the end of a recovery that changed or made durable anything: the
//     end of the recovered log (after a point-in-time recovery, the end of
//     what it kept: the one time it moves back);
//   - at a clean close: the exact end of the log.
//
// The log end's segment is at least the active segment, its offset at least
// 32 (a segment's header), its txn at least the watermark.
//
// Version 1 was the same up to the watermark, then the codec id (length at
// byte 48). It is still read, with no log end (all zero: nothing recorded),
// and replaced by version 2 at the next write.
//
// # Replacement
//
// The MANIFEST is only ever replaced whole: write MANIFEST.tmp, sync it,
// rename it over MANIFEST, sync the directory. A crash leaves the old or the
// new MANIFEST, never neither; a stale MANIFEST.tmp is ignored.
package manifest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
)

// Wire constants. Never change them.
const (
	FileName      = "MANIFEST"
	TempName      = "MANIFEST.tmp"
	FormatVersion = 2
	fixedSize     = 74 // everything before the codec id, in version 2
	fixedSizeV1   = 50
	maxCodecID    = 255
	// MinLogOffset is the smallest log end offset: a WAL segment's header.
	MinLogOffset = 32
)

var magic = [4]byte{'I', 'M', 'M', 'F'}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Manifest is the decoded MANIFEST.
type Manifest struct {
	UUID          [16]byte
	CodecID       string
	ActiveSegment uint64
	SnapshotID    uint64
	Watermark     uint64
	LogEnd        LogEnd // zero if not recorded (version 1)
}

// LogEnd is the durable end of the log (see the package doc).
type LogEnd struct {
	Segment uint64
	Offset  int64
	Txn     uint64
}

// Known reports whether the MANIFEST recorded a log end.
func (e LogEnd) Known() bool { return e.Segment != 0 }

// Before reports whether e is an earlier place in the log than o.
func (e LogEnd) Before(o LogEnd) bool {
	if e.Segment != o.Segment {
		return e.Segment < o.Segment
	}
	if e.Offset != o.Offset {
		return e.Offset < o.Offset
	}
	return e.Txn < o.Txn
}

// Encode returns the bytes of m.
func Encode(m Manifest) []byte {
	b := make([]byte, 0, fixedSize+len(m.CodecID)+4)
	b = append(b, magic[:]...)
	b = binary.LittleEndian.AppendUint32(b, FormatVersion)
	b = append(b, m.UUID[:]...)
	b = binary.LittleEndian.AppendUint64(b, m.ActiveSegment)
	b = binary.LittleEndian.AppendUint64(b, m.SnapshotID)
	b = binary.LittleEndian.AppendUint64(b, m.Watermark)
	b = binary.LittleEndian.AppendUint64(b, m.LogEnd.Segment)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.LogEnd.Offset))
	b = binary.LittleEndian.AppendUint64(b, m.LogEnd.Txn)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.CodecID)))
	b = append(b, m.CodecID...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// Decode parses a MANIFEST of any known version. path is used in errors;
// every failure is a *base.CorruptionError.
func Decode(path string, b []byte) (Manifest, error) {
	if len(b) < 8 {
		return Manifest{}, base.Corruptf(path, int64(len(b)), "MANIFEST cut short (%d bytes)", len(b))
	}
	if [4]byte(b[:4]) != magic {
		return Manifest{}, base.Corruptf(path, 0, "bad MANIFEST magic %q", b[:4])
	}
	fixed := fixedSize
	if binary.LittleEndian.Uint32(b[4:]) == 1 {
		fixed = fixedSizeV1
	}
	if len(b) < fixed+4 {
		return Manifest{}, base.Corruptf(path, int64(len(b)), "MANIFEST cut short (%d bytes)", len(b))
	}
	n := int(binary.LittleEndian.Uint16(b[fixed-2:]))
	if n > maxCodecID || len(b) != fixed+n+4 {
		return Manifest{}, base.Corruptf(path, int64(fixed-2), "MANIFEST size %d does not match codec id length %d", len(b), n)
	}
	body := b[:fixed+n]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return Manifest{}, base.Corruptf(path, int64(len(body)), "MANIFEST checksum mismatch: stored %08x computed %08x", want, got)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != 1 && v != FormatVersion {
		return Manifest{}, base.Corruptf(path, 4, "unsupported MANIFEST format version %d", v)
	}
	m := Manifest{
		UUID:          [16]byte(b[8:24]),
		ActiveSegment: binary.LittleEndian.Uint64(b[24:]),
		SnapshotID:    binary.LittleEndian.Uint64(b[32:]),
		Watermark:     binary.LittleEndian.Uint64(b[40:]),
		CodecID:       string(b[fixed : fixed+n]),
	}
	if fixed == fixedSize {
		m.LogEnd = LogEnd{Segment: binary.LittleEndian.Uint64(b[48:]), Offset: int64(binary.LittleEndian.Uint64(b[56:])), Txn: binary.LittleEndian.Uint64(b[64:])}
	}
	if err := check(path, m, fixed == fixedSize); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// check applies the rules a decoded MANIFEST must follow.
func check(path string, m Manifest, v2 bool) error {
	e := m.LogEnd
	switch {
	case m.ActiveSegment == 0:
		return base.Corruptf(path, 24, "MANIFEST names active segment 0")
	case m.SnapshotID == 0 && m.Watermark != 0:
		return base.Corruptf(path, 32, "MANIFEST has watermark %d but no snapshot", m.Watermark)
	case v2 && e.Segment < m.ActiveSegment:
		return base.Corruptf(path, 48, "MANIFEST log end segment %d is before the active segment %d", e.Segment, m.ActiveSegment)
	case v2 && e.Offset < MinLogOffset:
		return base.Corruptf(path, 56, "MANIFEST log end offset %d is inside a segment header", e.Offset)
	case v2 && e.Txn < m.Watermark:
		return base.Corruptf(path, 64, "MANIFEST log end txn %d is below the watermark %d", e.Txn, m.Watermark)
	}
	return nil
}

// Read reads and decodes dir/MANIFEST. A missing file is returned as the
// filesystem's not-exist error.
func Read(fsys vfs.FS, dir string) (Manifest, error) {
	path := filepath.Join(dir, FileName)
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return Manifest{}, err
	}
	return Decode(path, b)
}

// Write replaces dir/MANIFEST with m, crash-safely. cp is hit at point p
// after the temp file is synced (before the rename) and after the rename
// (before the directory sync). An error after the rename leaves the
// MANIFEST in an unknown state; the caller must stop writing.
func Write(fsys vfs.FS, dir string, m Manifest, cp *crashpoint.Set, p crashpoint.Point) (renamed bool, err error) {
	if len(m.CodecID) > maxCodecID {
		return false, fmt.Errorf("inmem/manifest: codec id longer than %d bytes", maxCodecID)
	}
	tmp := filepath.Join(dir, TempName)
	f, err := fsys.Create(tmp)
	if err != nil {
		return false, err
	}
	if _, err := f.Write(Encode(m)); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, base.SyncFailed(err)
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	cp.Hit(p)
	if err := fsys.Rename(tmp, filepath.Join(dir, FileName)); err != nil {
		return true, err
	}
	cp.Hit(p)
	return true, base.SyncFailed(vfs.SyncDir(fsys, dir))
}
