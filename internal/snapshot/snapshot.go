// Package snapshot frames in-mem's snapshot files: a header, then the
// logical state as a byte stream cut into checksummed, codec-encoded blocks,
// then a trailer. What the stream means is package state's business.
//
// # Format
//
//	header (format version 2):
//	0       4         8               24            32          40           48         50         50+n
//	+-------+---------+---------------+-------------+-----------+------------+----------+----------+---------+
//	| magic | version | database UUID | snapshot id | watermark | clock      | codec id | codec id | CRC-32C |
//	|"IMSN" | u32 LE  |   16 bytes    |   u64 LE    |  u64 LE   | i64 LE, µs | len u16  | n bytes  | u32 LE  |
//	+-------+---------+---------------+-------------+-----------+------------+----------+----------+---------+
//	blocks, each:
//	+-------------+-------------------------------+-------------------------+
//	| encoded len | codec-encoded block of at most| CRC-32C of len + bytes  |
//	| u32 LE (>0) | BlockSize plaintext bytes     | u32 LE                  |
//	+-------------+-------------------------------+-------------------------+
//	trailer:
//	+-----------+-------------+-----------------+-----------------------------+
//	| u32 zero  | block count | plaintext bytes | CRC-32C of the trailer      |
//	|           | u64 LE      | u64 LE          | so far, u32 LE              |
//	+-----------+-------------+-----------------+-----------------------------+
//
// The header's CRC covers every header byte before it. The clock is the
// commit clock at the watermark: no commit at or below the watermark has a
// later timestamp, so recovery continues the clock from there and commit
// timestamps never go back across a reopen, even if the wall clock did.
//
// Format version 1 had no clock (the codec id length sat at byte 40); it is
// still read, its clock taken as 0, and the state it holds then says how far
// the clock went (see state.DecodeSnapshot).
//
// A snapshot without its trailer is incomplete and never used. Snapshots are
// written to snap-N.chk.tmp, synced, renamed to snap-N.chk and the directory
// synced; only then does the MANIFEST point at them.
package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
)

// Wire constants. Never change them.
const (
	DirName       = "SNAPSHOTS"
	FormatVersion = 2
	// BlockSize is the most plaintext one block holds.
	BlockSize = 1 << 20
	// maxEncodedBlock bounds a block's encoded length: the plaintext plus
	// generous room for a codec's nonce and tag.
	maxEncodedBlock = BlockSize + 4096
	headerFixed     = 50 // the header up to the codec id, in version 2
	headerFixedV1   = 42
)

var magic = [4]byte{'I', 'M', 'S', 'N'}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Codec transforms each block; see inmem.Codec.
type Codec interface {
	Encode(dst, src []byte) ([]byte, error)
	Decode(dst, src []byte) ([]byte, error)
}

// Header is a snapshot's header.
type Header struct {
	UUID      [16]byte
	ID        uint64
	Watermark uint64
	Clock     int64 // the commit clock at the watermark, µs (0 in version 1)
	CodecID   string
}

// FileName returns the name of snapshot id.
func FileName(id uint64) string { return fmt.Sprintf("snap-%06d.chk", id) }

// ParseFileName returns the id in a snapshot file name.
func ParseFileName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "snap-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".chk")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || FileName(n) != name {
		return 0, false
	}
	return n, true
}

func appendHeader(b []byte, h Header) []byte {
	b = append(b, magic[:]...)
	b = binary.LittleEndian.AppendUint32(b, FormatVersion)
	b = append(b, h.UUID[:]...)
	b = binary.LittleEndian.AppendUint64(b, h.ID)
	b = binary.LittleEndian.AppendUint64(b, h.Watermark)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Clock))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.CodecID)))
	b = append(b, h.CodecID...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// Writer writes a snapshot stream.
type Writer struct {
	w       *bufio.Writer
	codec   Codec
	block   []byte
	enc     []byte
	blocks  uint64
	total   uint64
	written int64
	err     error
}

// NewWriter writes h to w and returns a Writer for the stream.
func NewWriter(w io.Writer, h Header, codec Codec) (*Writer, error) {
	sw := &Writer{w: bufio.NewWriterSize(w, 1<<20), codec: codec, block: make([]byte, 0, BlockSize)}
	if len(h.CodecID) > 255 {
		return nil, errors.New("inmem/snapshot: codec id too long")
	}
	sw.write(appendHeader(nil, h))
	return sw, sw.err
}

func (sw *Writer) write(p []byte) {
	if sw.err != nil {
		return
	}
	n, err := sw.w.Write(p)
	sw.written += int64(n)
	sw.err = err
}

// Write adds p to the stream.
func (sw *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && sw.err == nil {
		k := min(len(p), BlockSize-len(sw.block))
		sw.block = append(sw.block, p[:k]...)
		p = p[k:]
		if len(sw.block) == BlockSize {
			sw.flushBlock()
		}
	}
	if sw.err != nil {
		return 0, sw.err
	}
	return n, nil
}

func (sw *Writer) flushBlock() {
	if len(sw.block) == 0 || sw.err != nil {
		return
	}
	enc, err := sw.codec.Encode(sw.enc[:0], sw.block)
	if err != nil {
		sw.err = fmt.Errorf("inmem/snapshot: encode block: %w", err)
		return
	}
	sw.enc = enc
	var lenBuf [4]byte
	binary.LittleEndian.PutUint32(lenBuf[:], uint32(len(enc)))
	crc := crc32.Update(crc32.Checksum(lenBuf[:], crcTable), crcTable, enc)
	sw.write(lenBuf[:])
	sw.write(enc)
	sw.write(binary.LittleEndian.AppendUint32(nil, crc))
	sw.blocks++
	sw.total += uint64(len(sw.block))
	sw.block = sw.block[:0]
}

// Close writes the last block and the trailer and flushes. It does not
// close the underlying writer. It returns the file size.
func (sw *Writer) Close() (int64, error) {
	sw.flushBlock()
	t := binary.LittleEndian.AppendUint32(nil, 0)
	t = binary.LittleEndian.AppendUint64(t, sw.blocks)
	t = binary.LittleEndian.AppendUint64(t, sw.total)
	t = binary.LittleEndian.AppendUint32(t, crc32.Checksum(t, crcTable))
	sw.write(t)
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.written, sw.err
}

// WriteFile writes snapshot h.ID into dir crash-safely: fill writes the
// stream into the temp file, which is synced, renamed and its directory
// synced. It returns the file size. cp is hit before and after the rename.
// If the rename happened the returned bool is true: an error after it
// leaves the directory in an unknown state.
func WriteFile(fsys vfs.FS, dir string, h Header, codec Codec, cp *crashpoint.Set, fill func(io.Writer) error) (int64, bool, error) {
	final := filepath.Join(dir, FileName(h.ID))
	tmp := final + ".tmp"
	size, err := writeTemp(fsys, tmp, h, codec, fill)
	if err != nil {
		fsys.Remove(tmp)
		return 0, false, err
	}
	cp.Hit(crashpoint.DuringSnapshotBeforeRename)
	if err := fsys.Rename(tmp, final); err != nil {
		return 0, true, err
	}
	if err := vfs.SyncDir(fsys, dir); err != nil {
		return 0, true, base.SyncFailed(err)
	}
	cp.Hit(crashpoint.DuringSnapshotAfterRename)
	return size, true, nil
}

func writeTemp(fsys vfs.FS, tmp string, h Header, codec Codec, fill func(io.Writer) error) (int64, error) {
	f, err := fsys.Create(tmp)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sw, err := NewWriter(f, h, codec)
	if err != nil {
		return 0, err
	}
	if err := fill(sw); err != nil {
		return 0, err
	}
	size, err := sw.Close()
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, base.SyncFailed(err)
	}
	return size, f.Close()
}

// Reader reads a snapshot stream, checking every block.
type Reader struct {
	r      *bufio.Reader
	path   string
	codec  Codec
	off    int64 // file offset of the next unread byte
	block  []byte
	pos    int
	raw    []byte
	blocks uint64
	total  uint64
	done   bool
	err    error
}

// NewReader reads the header from r. path names the file in errors; every
// damage is a *base.CorruptionError.
func NewReader(r io.Reader, path string, codec Codec) (*Reader, Header, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 64<<10), path: path, codec: codec}
	h, err := sr.readHeader()
	return sr, h, err
}

func (sr *Reader) corrupt(off int64, format string, args ...any) error {
	return base.Corruptf(sr.path, off, format, args...)
}

func (sr *Reader) readFull(n int) ([]byte, error) {
	if cap(sr.raw) < n {
		sr.raw = make([]byte, n)
	}
	b := sr.raw[:n]
	if _, err := io.ReadFull(sr.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, sr.corrupt(sr.off, "snapshot cut short")
		}
		return nil, err
	}
	sr.off += int64(n)
	return b, nil
}

func (sr *Reader) readHeader() (Header, error) {
	b, err := sr.readFull(8)
	if err != nil {
		return Header{}, err
	}
	if [4]byte(b[:4]) != magic {
		return Header{}, sr.corrupt(0, "bad snapshot magic %q", b[:4])
	}
	v := binary.LittleEndian.Uint32(b[4:])
	fixed := map[uint32]int{1: headerFixedV1, FormatVersion: headerFixed}[v]
	if fixed == 0 {
		return Header{}, sr.corrupt(4, "unsupported snapshot format version %d", v)
	}
	crc := crc32.Checksum(b, crcTable)
	// NB: readFull reuses its buffer: b is gone after the next call.
	if b, err = sr.readFull(fixed - 8); err != nil {
		return Header{}, err
	}
	crc = crc32.Update(crc, crcTable, b)
	h := Header{UUID: [16]byte(b[:16]), ID: binary.LittleEndian.Uint64(b[16:]), Watermark: binary.LittleEndian.Uint64(b[24:])}
	if v == FormatVersion {
		h.Clock = int64(binary.LittleEndian.Uint64(b[32:]))
	}
	n := int(binary.LittleEndian.Uint16(b[fixed-10:]))
	rest, err := sr.readFull(n + 4)
	if err != nil {
		return Header{}, err
	}
	h.CodecID = string(rest[:n])
	crc = crc32.Update(crc, crcTable, rest[:n])
	if want := binary.LittleEndian.Uint32(rest[n:]); want != crc {
		return Header{}, sr.corrupt(int64(fixed+n), "snapshot header checksum mismatch")
	}
	return h, nil
}

// Read implements io.Reader over the decoded stream. At the end it checks
// the trailer; a stream without one is corruption, never a clean EOF.
func (sr *Reader) Read(p []byte) (int, error) {
	for sr.pos == len(sr.block) {
		if sr.err != nil {
			return 0, sr.err
		}
		if sr.done {
			return 0, io.EOF
		}
		sr.err = sr.nextBlock()
	}
	n := copy(p, sr.block[sr.pos:])
	sr.pos += n
	return n, nil
}

// ReadByte implements io.ByteReader.
func (sr *Reader) ReadByte() (byte, error) {
	if sr.pos < len(sr.block) {
		b := sr.block[sr.pos]
		sr.pos++
		return b, nil
	}
	var b [1]byte
	if _, err := io.ReadFull(sr, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

func (sr *Reader) nextBlock() error {
	start := sr.off
	lb, err := sr.readFull(4)
	if err != nil {
		return err
	}
	n := binary.LittleEndian.Uint32(lb)
	if n == 0 {
		return sr.readTrailer(start)
	}
	if n > maxEncodedBlock && !trustBlockLength {
		return sr.corrupt(start, "snapshot block length %d out of range", n)
	}
	crc := crc32.Checksum(lb, crcTable)
	enc, err := sr.readFull(int(n) + 4)
	if err != nil {
		return err
	}
	crc = crc32.Update(crc, crcTable, enc[:n])
	if want := binary.LittleEndian.Uint32(enc[n:]); want != crc {
		return sr.corrupt(start, "snapshot block checksum mismatch")
	}
	block, err := sr.codec.Decode(sr.block[:0], enc[:n])
	if err != nil {
		return &base.CorruptionError{File: sr.path, Offset: start, Reason: "snapshot block does not decode", Err: err}
	}
	if len(block) > BlockSize {
		return sr.corrupt(start, "snapshot block decodes to %d bytes", len(block))
	}
	sr.block, sr.pos = block, 0
	sr.blocks++
	sr.total += uint64(len(block))
	return nil
}

func (sr *Reader) readTrailer(start int64) error {
	b, err := sr.readFull(20)
	if err != nil {
		return err
	}
	crc := crc32.Checksum([]byte{0, 0, 0, 0}, crcTable)
	crc = crc32.Update(crc, crcTable, b[:16])
	if binary.LittleEndian.Uint32(b[16:]) != crc {
		return sr.corrupt(start, "snapshot trailer checksum mismatch")
	}
	blocks, total := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if blocks != sr.blocks || total != sr.total {
		return sr.corrupt(start, "snapshot trailer counts %d blocks and %d bytes, read %d and %d", blocks, total, sr.blocks, sr.total)
	}
	if _, err := sr.r.ReadByte(); err == nil {
		return sr.corrupt(sr.off, "bytes after the snapshot trailer")
	}
	sr.done = true
	return nil
}
