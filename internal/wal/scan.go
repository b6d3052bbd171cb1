package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
)

// ScanOptions configure Scan.
type ScanOptions struct {
	FS   vfs.FS
	Dir  string // the WAL directory
	UUID [16]byte
	// MaxRecordSize bounds a record's length field.
	MaxRecordSize int
	// FirstSegment is where the log starts (the MANIFEST's active segment);
	// earlier segment files are leftovers of a compaction and are ignored.
	FirstSegment uint64
	CrashPoints  *crashpoint.Set
	// DurableEnd, if its Segment is not 0, is a place the log is known to
	// reach durably (the MANIFEST's log end): every segment up to its
	// segment must exist and hold valid records up to its offset, the last
	// of them txn Txn. Damage before it is never a torn tail, and a log that
	// ends before it is damage too.
	DurableEnd Position
	// Apply is called for every valid record, in order. An error stops the
	// scan: the record is damage that no crash can explain.
	Apply func(seg uint64, off int64, r Record) error
	// Map reads segments through read-only mappings where the filesystem
	// can (see readSegment). A record's Payload is then valid only during
	// its Apply call, and a read error shows as a *FaultError.
	Map bool
}

// Position is a place in the log: byte Offset of segment Segment, Txn the
// txn id of the last record before it.
type Position struct {
	Segment uint64
	Offset  int64
	Txn     uint64
}

// before reports whether byte off of segment num lies before p: damage
// there hit bytes p says are durable.
func (p Position) before(num uint64, off int64) bool {
	return p.Segment > num || (p.Segment == num && p.Offset > off)
}

// SegmentInfo describes one scanned segment.
type SegmentInfo struct {
	Num      uint64
	Path     string
	Version  uint32 // the header's format version (0 if it is damaged)
	Size     int64  // file size
	ValidEnd int64  // end of the last valid record (or of the header)
	// Rest says the bytes after ValidEnd, if any, are no damage: the rest
	// of a segment written ahead with zeros, or stale records of the life
	// a recycled file had before (format 2 only).
	Rest     bool
	Records  int
	FirstTxn uint64 // 0 if the segment holds no record
	LastTxn  uint64
}

// Damage is the first damage the scan found.
type Damage struct {
	Segment uint64
	Path    string
	Offset  int64
	Reason  string
	// Torn says the damage is a torn tail: in the last segment, beyond every
	// offset a valid record claims was synced. HeaderTorn says the last
	// segment's header itself never became durable (a rotation cut short).
	Torn       bool
	HeaderTorn bool
	// Later lists the segments after the damaged one.
	Later []uint64
}

// Error returns the damage as a *base.CorruptionError.
func (d *Damage) Error() *base.CorruptionError {
	return base.Corruptf(d.Path, d.Offset, "%s", d.Reason)
}

// ScanResult is what Scan found.
type ScanResult struct {
	Segments []SegmentInfo // the segments read, up to and including a damaged one
	Ignored  []uint64      // segment files before FirstSegment
	Records  int
	FirstTxn uint64 // 0 if the log holds no record
	LastTxn  uint64
	Damage   *Damage // nil if the log is intact
}

// Scan reads the log from FirstSegment on, calls Apply for every valid
// record in order, and stops at the first damage. It changes nothing on
// disk. A missing segment is damage like any other; only a failure to read
// a file is returned as an error.
func Scan(o ScanOptions) (*ScanResult, error) {
	nums, err := ListSegments(o.FS, o.Dir)
	if err != nil {
		return nil, err
	}
	res := &ScanResult{}
	var live []uint64
	for _, n := range nums {
		if n < o.FirstSegment {
			res.Ignored = append(res.Ignored, n)
		} else {
			live = append(live, n)
		}
	}
	// Scan the contiguous run of segments from FirstSegment; a gap ends it.
	contiguous := 0
	for contiguous < len(live) && live[contiguous] == o.FirstSegment+uint64(contiguous) {
		contiguous++
	}
	for i, n := range live[:contiguous] {
		last := i == len(live)-1
		if err := scanSegment(o, res, n, last); err != nil {
			return res, err
		}
		if res.Damage != nil {
			res.Damage.Later = live[i+1:]
			if res.Damage.Segment != n { // blamed on the segment before
				res.Damage.Later = live[i:]
			}
			return res, nil
		}
		o.CrashPoints.Hit(crashpoint.DuringRecovery)
	}
	if contiguous < len(live) {
		missing := o.FirstSegment + uint64(contiguous)
		reason := fmt.Sprintf("segment %d is missing", missing)
		if contiguous == 0 {
			reason = fmt.Sprintf("segment %d, where the log starts, is missing", missing)
		}
		res.Damage = &Damage{Segment: missing, Path: filepath.Join(o.Dir, SegmentName(missing)), Offset: -1,
			Reason: reason + fmt.Sprintf(" (segment %d exists)", live[contiguous]), Later: live[contiguous:]}
	} else if len(live) == 0 {
		res.Damage = &Damage{Segment: o.FirstSegment, Path: filepath.Join(o.Dir, SegmentName(o.FirstSegment)), Offset: -1,
			Reason: fmt.Sprintf("segment %d, where the log starts, is missing", o.FirstSegment)}
	} else if end := o.DurableEnd; live[len(live)-1] < end.Segment {
		missing := live[len(live)-1] + 1
		res.Damage = &Damage{Segment: missing, Path: filepath.Join(o.Dir, SegmentName(missing)), Offset: -1,
			Reason: fmt.Sprintf("segment %d is missing: the MANIFEST records the log as durable up to offset %d of segment %d (txn %d)",
				missing, end.Offset, end.Segment, end.Txn)}
	}
	return res, nil
}

func scanSegment(o ScanOptions, res *ScanResult, num uint64, last bool) (err error) {
	path := filepath.Join(o.Dir, SegmentName(num))
	data, release, err := readSegment(o, path)
	if err != nil {
		return err
	}
	defer release()
	if o.Map {
		defer guardFaults()()
		defer recoverFault(data, path, &err) // NB: runs first: the mapping is still there
	}
	sc := &segScan{o: o, res: res, data: data, last: last,
		info: SegmentInfo{Num: num, Path: path, Size: int64(len(data)), ValidEnd: HeaderSize}}
	defer func() { res.Segments = append(res.Segments, sc.info) }()
	if reason := checkHeader(data, num, o.UUID); reason != "" {
		sc.info.ValidEnd = 0
		sc.headerDamage(reason)
		return nil
	}
	sc.info.Version = binary.LittleEndian.Uint32(data[4:])
	sc.records()
	return nil
}

// segScan is the scan of one segment.
type segScan struct {
	o    ScanOptions
	res  *ScanResult
	data []byte
	last bool
	info SegmentInfo
}

// damage records damage at off. It is a torn tail only in the last
// segment, at or after the durable end, and beyond every offset a valid
// record of the segment claims was synced.
func (sc *segScan) damage(off int64, reason string) {
	d := &Damage{Segment: sc.info.Num, Path: sc.info.Path, Offset: off, Reason: reason}
	d.Torn = sc.last && !sc.o.DurableEnd.before(sc.info.Num, off) && sc.maxClaimAfter(off) <= off
	sc.res.Damage = d
}

// headerDamage judges a bad header. Records are written only after a new
// segment's header and directory entry are durable, so a last segment with
// a bad header and no valid record, newer than the durable end (which names
// every segment a rotation finished), is a rotation that a crash cut short:
// its header was never durable, and a power loss may leave it cut short,
// zeroed, or holding other bytes (a sector the disk wrote with stale
// content). A well-formed header naming another segment or database is no
// torn write: that is corruption.
func (sc *segScan) headerDamage(reason string) {
	num := sc.info.Num
	d := &Damage{Segment: num, Path: sc.info.Path, Offset: 0, Reason: reason}
	d.HeaderTorn = sc.last && num > sc.o.FirstSegment && num > sc.o.DurableEnd.Segment &&
		!foreignHeader(sc.data, num, sc.o.UUID) && maxClaim(sc.data, -1, sc.o.MaxRecordSize, 0, 0) < 0
	d.Torn = d.HeaderTorn
	sc.res.Damage = d
}

// records decodes the records after the header, applying each, up to the
// first damage.
func (sc *segScan) records() {
	res, info, off := sc.res, &sc.info, int64(HeaderSize)
	for off < int64(len(sc.data)) {
		if reason := sc.atDurableEnd(off); reason != "" {
			if sc.previousEndedEarly(off, "the MANIFEST records txn "+fmt.Sprint(sc.o.DurableEnd.Txn)+" before offset "+fmt.Sprint(off)+" of segment "+fmt.Sprint(sc.info.Num)) {
				return
			}
			sc.damage(off, reason)
			res.Damage.Torn = false
			return
		}
		r, n, err := DecodeRecord(sc.data[off:], off, sc.o.MaxRecordSize)
		if err == nil {
			err = sc.belongs(r)
		}
		if err == nil && res.LastTxn != 0 && r.Txn != res.LastTxn+1 {
			if sc.previousEndedEarly(off, fmt.Sprintf("segment %d starts with txn %d", sc.info.Num, r.Txn)) {
				return
			}
			err = fmt.Errorf("txn id %d where %d was expected", r.Txn, res.LastTxn+1)
		}
		if err == nil {
			err = sc.crossesDurableEnd(off, int64(n))
		}
		if err != nil && sc.restAt(off, err) {
			break
		}
		if err != nil {
			sc.damage(off, err.Error())
			return
		}
		if err := sc.o.Apply(info.Num, off, r); err != nil {
			sc.damage(off, fmt.Sprintf("record %d cannot be applied: %v", r.Txn, err))
			res.Damage.Torn = false
			return
		}
		sc.count(r)
		off += int64(n)
		info.ValidEnd = off
	}
	sc.endsBeforeDurableEnd()
}

// previousEndedEarly blames the segment before for records missing at the
// start of this one (what says so: a txn gap, or the durable end), if that
// segment's log ended in a zeroed or stale rest: its last records were lost
// there (zeroed, or overwritten), not here.
func (sc *segScan) previousEndedEarly(off int64, says string) bool {
	res := sc.res
	if off != HeaderSize || len(res.Segments) == 0 || !res.Segments[len(res.Segments)-1].Rest {
		return false
	}
	prev := res.Segments[len(res.Segments)-1]
	res.Damage = &Damage{Segment: prev.Num, Path: prev.Path, Offset: prev.ValidEnd,
		Reason: fmt.Sprintf("records are missing: the log of this segment ends at offset %d with txn %d, but %s",
			prev.ValidEnd, res.LastTxn, says)}
	return true
}

func (sc *segScan) count(r Record) {
	res, info := sc.res, &sc.info
	if res.FirstTxn == 0 {
		res.FirstTxn = r.Txn
	}
	if info.FirstTxn == 0 {
		info.FirstTxn = r.Txn
	}
	res.LastTxn, info.LastTxn = r.Txn, r.Txn
	res.Records++
	info.Records++
}

// atDurableEnd checks, at a record boundary off, that if it is the durable
// end the record before it is the one the end names.
func (sc *segScan) atDurableEnd(off int64) string {
	end := sc.o.DurableEnd
	if end.Segment != sc.info.Num || end.Offset != off || sc.res.LastTxn == 0 || sc.res.LastTxn == end.Txn {
		return ""
	}
	return fmt.Sprintf("the last record before the durable end (offset %d) is txn %d, but the MANIFEST records txn %d there",
		off, sc.res.LastTxn, end.Txn)
}

// crossesDurableEnd refuses a record that runs past the durable end: the
// end is always a record boundary.
func (sc *segScan) crossesDurableEnd(off, n int64) error {
	end := sc.o.DurableEnd
	if end.Segment != sc.info.Num || off >= end.Offset || off+n <= end.Offset {
		return nil
	}
	return fmt.Errorf("the record at offset %d runs past the durable end at offset %d recorded in the MANIFEST", off, end.Offset)
}

// endsBeforeDurableEnd refuses a segment whose valid records stop, without
// other damage, before the durable end; at the end, it checks the txn.
func (sc *segScan) endsBeforeDurableEnd() {
	end, valid := sc.o.DurableEnd, sc.info.ValidEnd
	if end.Segment != sc.info.Num {
		return
	}
	if valid < end.Offset {
		sc.res.Damage = &Damage{Segment: sc.info.Num, Path: sc.info.Path, Offset: valid,
			Reason: fmt.Sprintf("the log ends at offset %d, before the durable end at offset %d (txn %d) recorded in the MANIFEST: durable records are lost",
				valid, end.Offset, end.Txn)}
		return
	}
	if reason := sc.atDurableEnd(valid); reason != "" {
		if sc.previousEndedEarly(valid, fmt.Sprintf("the MANIFEST records txn %d at offset %d of segment %d", end.Txn, valid, sc.info.Num)) {
			return
		}
		sc.damage(valid, reason)
		sc.res.Damage.Torn = false
	}
}

func checkHeader(data []byte, num uint64, uuid [16]byte) string {
	h, err := DecodeHeader(data)
	switch {
	case err != nil:
		return err.Error()
	case h.Num != num:
		return fmt.Sprintf("header names segment %d", h.Num)
	case h.UUID != uuid:
		return fmt.Sprintf("segment belongs to database %x, not %x", h.UUID, uuid)
	}
	return ""
}

// foreignHeader reports whether data starts with a well-formed header of
// another segment or database, which no cut-short write of this segment's
// header leaves: one whose bytes are neither this segment's header nor
// zeros (a lost sector, or a size update that reached the disk without the
// data) where they differ.
func foreignHeader(data []byte, num uint64, uuid [16]byte) bool {
	if _, err := DecodeHeader(data); err != nil {
		return false
	}
	want := AppendHeader(nil, num, uuid)
	for i, b := range data[:HeaderSize] {
		if b != want[i] && b != 0 {
			return true
		}
	}
	return false
}

// ErrStale says a well-formed record of format 2 names another segment: a
// record from the life a recycled file had before, never part of this log.
var ErrStale = errors.New("inmem/wal: stale record of another segment")

// belongs checks that a valid record is one of this segment.
func (sc *segScan) belongs(r Record) error {
	return Belongs(sc.info.Num, sc.info.Version, r)
}

// Belongs checks that a valid record r is one of segment num, whose header
// has format version v: of that version and, in format 2, naming num. A
// format 2 record naming another segment is stale (errors.Is ErrStale).
func Belongs(num uint64, v uint32, r Record) error {
	switch {
	case uint32(r.Version) != v:
		return fmt.Errorf("%w: %d in a segment of version %d", errVersion, r.Version, v)
	case r.Version == FormatVersion && r.Segment != num:
		return fmt.Errorf("%w: it names segment %d", ErrStale, r.Segment)
	}
	return nil
}

// restAt reports whether the log of the segment ends cleanly at off, where
// decoding failed with err (see IsRest), and notes it.
func (sc *segScan) restAt(off int64, err error) bool {
	if !IsRest(sc.data, off, sc.o.MaxRecordSize, sc.info.Num, sc.info.Version, err) {
		return false
	}
	sc.info.Rest = true
	return true
}

// IsRest reports whether the log of segment num (format version v, whole
// file data) ends cleanly at off, where decoding failed with err: the
// segment is of format 2, every byte from off on is zero (written ahead of
// the log) or off holds a stale record (from a recycled file's earlier
// life), and no valid record of this segment lies anywhere after off. Then
// the rest was never part of this log: no damage, nothing to cut.
func IsRest(data []byte, off int64, maxLen int, num uint64, v uint32, err error) bool {
	if v != FormatVersion || maxClaim(data, off, maxLen, uint8(v), num) >= 0 {
		return false
	}
	rest := data[off:]
	return errors.Is(err, ErrStale) || nonZero(rest) == len(rest)
}

// maxClaimAfter returns the largest synced offset claimed by a valid record
// of this segment starting after offset from, or -1 if there is none.
func (sc *segScan) maxClaimAfter(from int64) int64 {
	return maxClaim(sc.data, from, sc.o.MaxRecordSize, uint8(sc.info.Version), sc.info.Num)
}

// maxClaim returns the largest synced offset claimed by a valid record
// starting after offset from, of version v (any if 0) and, in format 2, of
// segment seg, or -1 if there is none. It tries every byte offset (after
// damage the record boundaries are unknown) but skips runs of zeros: a
// record's length, never 0, has a non-zero byte in its first four.
func maxClaim(data []byte, from int64, maxLen int, v uint8, seg uint64) int64 {
	best := int64(-1)
	for off := max(from+1, 0); off+RecordOverheadV1 <= int64(len(data)); off++ {
		if z := nonZero(data[off:]); z >= lengthSize {
			off += int64(z - lengthSize)
			continue
		}
		if !plausible(data[off:], maxLen, FormatVersion) && !plausible(data[off:], maxLen, FormatV1) {
			continue
		}
		r, _, err := DecodeRecord(data[off:], off, maxLen)
		if err != nil || (v != 0 && r.Version != v) || (r.Version == FormatVersion && v != 0 && r.Segment != seg) {
			continue
		}
		best = max(best, r.Synced)
	}
	return best
}

// nonZero returns the index of the first non-zero byte of b, or len(b).
func nonZero(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != 0 {
			break
		}
	}
	for i < len(b) && b[i] == 0 {
		i++
	}
	return i
}
