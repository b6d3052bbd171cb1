package corrupt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// The file names the corruption tester damages, and the sizes it aims by
// (the layout: package inmem's documentation and docs/design.md).
const (
	walDirName      = "WAL"
	snapDirName     = "SNAPSHOTS"
	manifestName    = "MANIFEST"
	segmentHeader   = 32
	recordFixedBody = 37 // version, segment, txn id, timestamp, synced offset, CRC
	recordPrefix    = 37 // length, version, segment, txn id, timestamp, synced offset: before the writeset
	recordVersion   = 2  // the record format the engine writes
	// manifestCodecLen is where a version 2 MANIFEST holds its codec id's
	// length; snapshotFixedV1 and V2 end a snapshot header's fixed part
	// (the codec id's length last); snapshotTrailer is a snapshot's
	// trailer's size.
	manifestCodecLen = 72
	snapshotFixedV1  = 42
	snapshotFixedV2  = 50
	snapshotTrailer  = 24
)

// WALCorruptionTester damages a closed database's files the ways crashes,
// disks and people do, then checks what recovery makes of them.
type WALCorruptionTester struct {
	dir  string
	fs   vfs.FS
	opts inmem.Options
}

// NewWALCorruptionTester returns a tester for the database in dir, on the
// real filesystem.
func NewWALCorruptionTester(dir string) *WALCorruptionTester {
	return &WALCorruptionTester{dir: dir, fs: vfs.OS}
}

// WithFS uses another filesystem (a vfs.MemFS, say) and options for
// recovery.
func (t *WALCorruptionTester) WithFS(fsys vfs.FS, opts inmem.Options) *WALCorruptionTester {
	t.fs, t.opts = fsys, opts
	return t
}

// Segments returns the numbers of the WAL segments, ascending.
func (t *WALCorruptionTester) Segments() ([]uint64, error) {
	names, err := t.fs.List(filepath.Join(t.dir, walDirName))
	if err != nil {
		return nil, err
	}
	var nums []uint64
	for _, n := range names {
		var num uint64
		if _, err := fmt.Sscanf(n, "wal-%d.seg", &num); err == nil && fmt.Sprintf("wal-%06d.seg", num) == n {
			nums = append(nums, num)
		}
	}
	return nums, nil
}

// SegmentPath returns the path of segment num.
func (t *WALCorruptionTester) SegmentPath(num uint64) string {
	return filepath.Join(t.dir, walDirName, fmt.Sprintf("wal-%06d.seg", num))
}

func (t *WALCorruptionTester) lastSegment() (string, error) {
	nums, err := t.Segments()
	if err != nil {
		return "", err
	}
	if len(nums) == 0 {
		return "", errors.New("crashtest: the database has no WAL segment")
	}
	return t.SegmentPath(nums[len(nums)-1]), nil
}

// rewrite replaces a file's content, durably.
func (t *WALCorruptionTester) rewrite(path string, fn func([]byte) ([]byte, error)) error {
	data, err := vfs.ReadFile(t.fs, path)
	if err != nil {
		return err
	}
	if data, err = fn(data); err != nil {
		return err
	}
	return vfs.WriteFile(t.fs, path, data)
}

func (t *WALCorruptionTester) rewriteLast(fn func([]byte) ([]byte, error)) error {
	path, err := t.lastSegment()
	if err != nil {
		return err
	}
	return t.rewrite(path, fn)
}

// recordsEnd returns where the log of segment content b ends: after the last
// of the records that follow the header back to back, each whole (its
// length within b and its CRC-32C right). The segment's prepared rest (the
// zeros the engine writes ahead of its log) comes after it.
func recordsEnd(b []byte) int {
	off := min(len(b), segmentHeader)
	for off+4 <= len(b) {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n < 4 || n > len(b)-off-4 {
			break
		}
		end := off + 4 + n
		if crc32.Checksum(b[off:end-4], castagnoli) != binary.LittleEndian.Uint32(b[end-4:]) {
			break
		}
		off = end
	}
	return off
}

// TruncateWALTail cuts the last segment n bytes before the end of its log
// (never into its header), and everything after: a crash during a write.
func (t *WALCorruptionTester) TruncateWALTail(n int) error {
	return t.rewriteLast(func(b []byte) ([]byte, error) {
		return b[:max(recordsEnd(b)-n, min(len(b), segmentHeader))], nil
	})
}

// AppendGarbage writes bytes at the end of the last segment's log (over
// its prepared rest, extending the file as needed): a partial write.
func (t *WALCorruptionTester) AppendGarbage(garbage []byte) error {
	return t.writeAtEnd(garbage)
}

// writeAtEnd writes p at the end of the last segment's log.
func (t *WALCorruptionTester) writeAtEnd(p []byte) error {
	return t.rewriteLast(func(b []byte) ([]byte, error) {
		end := recordsEnd(b)
		if need := end + len(p); need > len(b) {
			b = append(b, make([]byte, need-len(b))...)
		}
		copy(b[end:], p)
		return b, nil
	})
}

// ZeroFillTail overwrites the last n bytes of the last segment's log
// (after its header) with zeros: blocks a filesystem allocated but never
// wrote.
func (t *WALCorruptionTester) ZeroFillTail(n int) error {
	return t.rewriteLast(func(b []byte) ([]byte, error) {
		end := recordsEnd(b)
		for i := max(end-n, segmentHeader); i < end; i++ {
			b[i] = 0
		}
		return b, nil
	})
}

// CreatePartialRecord writes, at the end of the last segment's log, the
// start of a record whose length says more follows than does: a crash in
// the middle of a record.
func (t *WALCorruptionTester) CreatePartialRecord() error {
	partial := binary.LittleEndian.AppendUint32(nil, recordFixedBody+64)
	partial = append(partial, recordVersion)
	partial = binary.LittleEndian.AppendUint64(partial, 1<<40)
	return t.AppendGarbage(partial)
}

// WriteStaleRecord writes, at offset off of segment num (at the end of its
// log if off < 0), a well-formed record that names segment other: what a
// recycled segment file holds from its earlier life. Recovery must never
// replay it.
func (t *WALCorruptionTester) WriteStaleRecord(num uint64, off int64, other, txn uint64) error {
	rec := staleRecord(other, txn)
	return t.rewrite(t.SegmentPath(num), func(b []byte) ([]byte, error) {
		at := int(off)
		if off < 0 {
			at = recordsEnd(b)
		}
		if need := at + len(rec); need > len(b) {
			b = append(b, make([]byte, need-len(b))...)
		}
		copy(b[at:], rec)
		return b, nil
	})
}

// staleRecord encodes a record of segment seg and txn, in the engine's
// format, claiming only its segment's header synced, with an empty
// writeset.
func staleRecord(seg, txn uint64) []byte {
	rec := binary.LittleEndian.AppendUint32(nil, recordFixedBody+1)
	rec = append(rec, recordVersion)
	rec = binary.LittleEndian.AppendUint64(rec, seg)
	rec = binary.LittleEndian.AppendUint64(rec, txn)
	rec = binary.LittleEndian.AppendUint64(rec, 1)
	rec = binary.LittleEndian.AppendUint64(rec, segmentHeader)
	rec = append(rec, 0) // a writeset of no mutation
	return binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
}

// CorruptRandomBytes flips count random bytes (each XORed with a non-zero
// value) at random offsets after the headers of the segments, chosen with
// seed: bit rot. It returns the segment and offset of each flip.
func (t *WALCorruptionTester) CorruptRandomBytes(count int, seed uint64) ([]Flip, error) {
	nums, err := t.Segments()
	if err != nil {
		return nil, err
	}
	return t.corruptBytes(count, seed, nums)
}

// corruptBytes flips bytes of the segments nums.
func (t *WALCorruptionTester) corruptBytes(count int, seed uint64, nums []uint64) ([]Flip, error) {
	rng := rand.New(rand.NewPCG(seed, 0xb17f11b))
	sizes := make([]int64, len(nums))
	var total int64
	for i, n := range nums {
		b, err := vfs.ReadFile(t.fs, t.SegmentPath(n))
		if err != nil {
			return nil, err
		}
		sizes[i] = int64(max(recordsEnd(b)-segmentHeader, 0)) // the records, not the prepared rest
		total += sizes[i]
	}
	if total == 0 {
		return nil, errors.New("crashtest: the segments hold no records to corrupt")
	}
	flips := make([]Flip, 0, count)
	for range count {
		pos := rng.Int64N(total)
		i := 0
		for pos >= sizes[i] {
			pos -= sizes[i]
			i++
		}
		f := Flip{Segment: nums[i], Offset: segmentHeader + pos, Mask: byte(1 + rng.IntN(255))}
		err := t.rewrite(t.SegmentPath(f.Segment), func(b []byte) ([]byte, error) {
			b[f.Offset] ^= f.Mask
			return b, nil
		})
		if err != nil {
			return flips, err
		}
		flips = append(flips, f)
	}
	return flips, nil
}

// Flip is one byte CorruptRandomBytes changed.
type Flip struct {
	Segment uint64
	Offset  int64
	Mask    byte
}

// CorruptSegmentHeader flips a byte of a segment's header.
func (t *WALCorruptionTester) CorruptSegmentHeader(segment uint64) error {
	return t.rewrite(t.SegmentPath(segment), func(b []byte) ([]byte, error) {
		if len(b) < segmentHeader {
			return nil, fmt.Errorf("crashtest: segment %d has no full header", segment)
		}
		b[9] ^= 0xff // inside the segment number
		return b, nil
	})
}

// RemoveSegment deletes a segment file.
func (t *WALCorruptionTester) RemoveSegment(segment uint64) error {
	if err := t.fs.Remove(t.SegmentPath(segment)); err != nil {
		return err
	}
	return vfs.SyncDir(t.fs, filepath.Join(t.dir, walDirName))
}

// CorruptManifest flips a byte in the middle of the MANIFEST.
func (t *WALCorruptionTester) CorruptManifest() error {
	return t.rewrite(filepath.Join(t.dir, manifestName), func(b []byte) ([]byte, error) {
		if len(b) == 0 {
			return nil, errors.New("crashtest: empty MANIFEST")
		}
		b[len(b)/2] ^= 0x55
		return b, nil
	})
}

// CorruptSnapshot flips a byte in the middle of the newest snapshot file.
func (t *WALCorruptionTester) CorruptSnapshot() error {
	names, err := t.fs.List(filepath.Join(t.dir, snapDirName))
	if err != nil {
		return err
	}
	last := ""
	for _, n := range names {
		if filepath.Ext(n) == ".chk" {
			last = n
		}
	}
	if last == "" {
		return errors.New("crashtest: the database has no snapshot; take a checkpoint first")
	}
	return t.rewrite(filepath.Join(t.dir, snapDirName, last), func(b []byte) ([]byte, error) {
		b[len(b)/2] ^= 0x55
		return b, nil
	})
}

// manifest reads the MANIFEST the damage is aimed by.
func (t *WALCorruptionTester) manifest() (*inmem.ManifestInfo, error) {
	rep, err := inmem.Inspect(t.dir, &inmem.Options{FS: t.fs, Codec: t.opts.Codec, EncryptionKey: t.opts.EncryptionKey})
	if err != nil {
		return nil, err
	}
	if rep.Manifest == nil {
		return nil, fmt.Errorf("crashtest: the MANIFEST cannot be read: %s", rep.ManifestError)
	}
	return rep.Manifest, nil
}

// RecoveryResult is what recovery made of the damage.
type RecoveryResult struct {
	Recovered        bool
	Err              error // why it did not open (a *inmem.CorruptionError for damage)
	RunsFound        int
	RecordsRecovered int   // log records replayed
	BytesTruncated   int64 // cut off a torn tail
	LastVersion      inmem.Version
	Report           inmem.RecoveryReport
}

// VerifyRecoveryAfterCorruption opens the database (with the tester's
// options: strict recovery unless they say otherwise), reports what it
// found, and closes it. Opening truncates a torn tail.
func (t *WALCorruptionTester) VerifyRecoveryAfterCorruption() (*RecoveryResult, error) {
	o := t.opts
	o.FS = t.fs
	db, err := inmem.Open(t.dir, &o)
	if err != nil {
		return &RecoveryResult{Err: err}, nil
	}
	defer db.Close()
	runs, err := db.ListRuns()
	if err != nil {
		return nil, err
	}
	rep := db.Recovery()
	return &RecoveryResult{Recovered: true, RunsFound: len(runs), RecordsRecovered: rep.Records,
		BytesTruncated: rep.TornBytes, LastVersion: db.LastVersion(), Report: rep}, nil
}
