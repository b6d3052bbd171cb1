// Package manifest reads and writes the MANIFEST: the small file that says
// which database a directory holds and where recovery starts.
//
// # Format
//
//	0      4         8               24               32            40           48        50
//	+------+---------+---------------+----------------+-------------+------------+---------+----------+---------+
//	| magic| version | database UUID | active segment | snapshot id | watermark  | codec id| codec id | CRC-32C |
//	|"IMMF"| u32 LE  |   16 bytes    |     u64 LE     |   u64 LE    |   u64 LE   | len u16 |  bytes   | u32 LE  |
//	+------+---------+---------------+----------------+-------------+------------+---------+----------+---------+
//
// The CRC covers every byte before it. The active segment is the segment
// that was active when the MANIFEST was written: recovery reads the log from
// there, and every earlier segment holds only records at or below the
// watermark. Snapshot id 0 means no snapshot (watermark 0).
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
	FormatVersion = 1
	fixedSize     = 50
	maxCodecID    = 255
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
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.CodecID)))
	b = append(b, m.CodecID...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// Decode parses a MANIFEST. path is used in errors; every failure is a
// *base.CorruptionError.
func Decode(path string, b []byte) (Manifest, error) {
	if len(b) < fixedSize+4 {
		return Manifest{}, base.Corruptf(path, int64(len(b)), "MANIFEST cut short (%d bytes)", len(b))
	}
	if [4]byte(b[:4]) != magic {
		return Manifest{}, base.Corruptf(path, 0, "bad MANIFEST magic %q", b[:4])
	}
	n := int(binary.LittleEndian.Uint16(b[48:]))
	if n > maxCodecID || len(b) != fixedSize+n+4 {
		return Manifest{}, base.Corruptf(path, 48, "MANIFEST size %d does not match codec id length %d", len(b), n)
	}
	body := b[:fixedSize+n]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return Manifest{}, base.Corruptf(path, int64(len(body)), "MANIFEST checksum mismatch: stored %08x computed %08x", want, got)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != FormatVersion {
		return Manifest{}, base.Corruptf(path, 4, "unsupported MANIFEST format version %d", v)
	}
	m := Manifest{
		UUID:          [16]byte(b[8:24]),
		ActiveSegment: binary.LittleEndian.Uint64(b[24:]),
		SnapshotID:    binary.LittleEndian.Uint64(b[32:]),
		Watermark:     binary.LittleEndian.Uint64(b[40:]),
		CodecID:       string(b[fixedSize : fixedSize+n]),
	}
	if m.ActiveSegment == 0 {
		return Manifest{}, base.Corruptf(path, 24, "MANIFEST names active segment 0")
	}
	if m.SnapshotID == 0 && m.Watermark != 0 {
		return Manifest{}, base.Corruptf(path, 32, "MANIFEST has watermark %d but no snapshot", m.Watermark)
	}
	return m, nil
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

// Write replaces dir/MANIFEST with m, crash-safely. cp is hit after the temp
// file is synced (before the rename) and after the rename (before the
// directory sync). An error after the rename leaves the MANIFEST in an
// unknown state; the caller must stop writing.
func Write(fsys vfs.FS, dir string, m Manifest, cp *crashpoint.Set) (renamed bool, err error) {
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
	cp.Hit(crashpoint.DuringManifestUpdate)
	if err := fsys.Rename(tmp, filepath.Join(dir, FileName)); err != nil {
		return true, err
	}
	cp.Hit(crashpoint.DuringManifestUpdate)
	return true, base.SyncFailed(vfs.SyncDir(fsys, dir))
}
