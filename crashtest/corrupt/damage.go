package corrupt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
)

// damage is one way to damage a database: what it is called, and what it
// does (a hit says where).
type damage struct {
	name string
	do   func(d *damager) (hit, error)
	// pointInTime opens with RecoverPointInTime.
	pointInTime bool
}

// errSkip says a damage does not apply to a database (no snapshot, too
// few segments); another is drawn.
var errSkip = errors.New("crashtest: this damage does not apply to this database")

// damager damages one database.
type damager struct {
	t      *WALCorruptionTester
	h      *history
	rng    *rand.Rand
	live   []uint64 // the segments recovery reads, ascending
	newest string
	end    logEnd // the durable end the MANIFEST records
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// damages are every way a case damages a database, each as likely.
var damages = []damage{
	{name: "truncate the newest segment", do: func(d *damager) (hit, error) {
		n := 1 + d.rng.IntN(300)
		size := d.h.size[d.newest]
		return hit{file: d.newest, from: max(size-int64(n), segmentHeader), to: -1}, d.t.TruncateWALTail(n)
	}},
	{name: "zero-fill the end of the newest segment", do: func(d *damager) (hit, error) {
		n := 1 + d.rng.IntN(700)
		size := d.h.size[d.newest]
		return hit{file: d.newest, from: max(size-int64(n), segmentHeader), to: -1}, d.t.ZeroFillTail(n)
	}},
	{name: "append garbage", do: func(d *damager) (hit, error) {
		g := make([]byte, 1+d.rng.IntN(600))
		for i := range g {
			g[i] = byte(d.rng.UintN(256))
		}
		return hit{file: d.newest, from: d.h.size[d.newest], to: -1}, d.t.AppendGarbage(g)
	}},
	{name: "append a partial record", do: func(d *damager) (hit, error) {
		return hit{file: d.newest, from: d.h.size[d.newest], to: -1}, d.t.CreatePartialRecord()
	}},
	{name: "flip a byte", do: func(d *damager) (hit, error) { return d.flip() }},
	{name: "damage a segment header's version", do: func(d *damager) (hit, error) {
		seg := d.t.SegmentPath(d.live[d.rng.IntN(len(d.live))])
		return hit{file: seg, from: 4, to: 8, reasons: []string{"version"}}, d.t.rewrite(seg, func(b []byte) ([]byte, error) {
			binary.LittleEndian.PutUint32(b[4:], 0x7fff)
			return b, nil
		})
	}},
	{name: "remove a middle segment", do: func(d *damager) (hit, error) {
		if len(d.live) < 3 {
			return hit{}, errSkip
		}
		seg := d.live[1+d.rng.IntN(len(d.live)-2)]
		return hit{file: d.t.SegmentPath(seg), from: -1}, d.t.RemoveSegment(seg)
	}},
	{name: "remove the newest segment", do: func(d *damager) (hit, error) {
		if len(d.live) < 2 {
			return hit{}, errSkip
		}
		return hit{file: d.newest, from: -1}, d.t.RemoveSegment(d.live[len(d.live)-1])
	}},
	{name: "damage the MANIFEST", do: func(d *damager) (hit, error) {
		return hit{file: filepath.Join(d.t.dir, manifestName), from: -1}, d.t.CorruptManifest()
	}},
	{name: "set the MANIFEST's codec id length to 65535", do: func(d *damager) (hit, error) {
		path := filepath.Join(d.t.dir, manifestName)
		return hit{file: path, reasons: []string{"length", "size"}}, d.t.rewrite(path, func(b []byte) ([]byte, error) {
			binary.LittleEndian.PutUint16(b[manifestCodecLen:], 0xffff)
			return b, nil
		})
	}},
	{name: "damage the snapshot", do: func(d *damager) (hit, error) {
		path, err := d.snapshot()
		return hit{file: path}, errors.Join(err, d.t.CorruptSnapshot())
	}},
	// 256 MiB: far beyond any block, and beyond the bound on what recovery
	// may allocate, yet small enough that a reader that trusts it fails
	// the bound rather than the machine.
	{name: "set a snapshot block's length to 256 MiB", do: func(d *damager) (hit, error) {
		path, err := d.snapshot()
		if err != nil {
			return hit{}, err
		}
		return hit{file: path, reasons: []string{"length", "cut short"}}, d.t.rewrite(path, func(b []byte) ([]byte, error) {
			binary.LittleEndian.PutUint32(b[snapshotHeaderSize(b):], 256<<20)
			return b, nil
		})
	}},
	{name: "set a snapshot's block count to 2^60, checksum fixed", do: func(d *damager) (hit, error) {
		path, err := d.snapshot()
		if err != nil {
			return hit{}, err
		}
		return hit{file: path, wellFormed: true, reasons: []string{"block", "count"}}, d.t.rewrite(path, hugeBlockCount)
	}},
	{name: "set a record's length to 4 GiB", do: func(d *damager) (hit, error) {
		return d.recordField(func(b []byte, r record) { binary.LittleEndian.PutUint32(b[r.off:], 0xfffffff0) },
			false, "length", "cut short", "checksum")
	}},
	{name: "set a record's length past the end of its segment", do: func(d *damager) (hit, error) {
		return d.recordField(func(b []byte, r record) {
			binary.LittleEndian.PutUint32(b[r.off:], uint32(int64(len(b))-r.off+64))
		}, false, "length", "cut short", "checksum")
	}},
	{name: "set a record's mutation count to 2^40, checksum fixed", do: func(d *damager) (hit, error) { return d.hugeCount() }},
	{name: "flip a byte, then recover point-in-time", pointInTime: true, do: func(d *damager) (hit, error) { return d.flip() }},
	// What a recycled segment file holds from its earlier life: records,
	// well formed, that name another segment.
	{name: "write a stale record after the newest segment's log", do: func(d *damager) (hit, error) {
		num := d.live[len(d.live)-1]
		return hit{file: d.newest, from: d.h.size[d.newest], to: -1, stale: true},
			d.t.WriteStaleRecord(num, -1, num+1+d.rng.Uint64N(1000), d.rng.Uint64N(1<<20))
	}},
	{name: "replace a segment's last record with a stale record", do: func(d *damager) (hit, error) { return d.staleLast() }},
}

// staleLast overwrites the last record of the newest segment, or of a
// segment before the one holding the durable end (the MANIFEST proves its
// records), with a stale record naming another segment.
func (d *damager) staleLast() (hit, error) {
	var nums []uint64
	for _, n := range d.live {
		if p := d.t.SegmentPath(n); len(d.h.records[p]) > 0 && (p == d.newest || n < d.end.segment) {
			nums = append(nums, n)
		}
	}
	if len(nums) == 0 {
		return hit{}, errSkip
	}
	n := nums[d.rng.IntN(len(nums))]
	p := d.t.SegmentPath(n)
	rs := d.h.records[p]
	r := rs[len(rs)-1]
	other := n + 1 + d.rng.Uint64N(1000)
	if n > 1 && d.rng.IntN(2) == 0 {
		other = 1 + d.rng.Uint64N(n-1) // a segment number from before: the file's earlier life
	}
	return hit{file: p, from: r.off, to: r.end, stale: true}, d.t.WriteStaleRecord(n, r.off, other, uint64(r.version))
}

// flip flips one byte of a live segment, after its header.
func (d *damager) flip() (hit, error) {
	flips, err := d.t.corruptBytes(1, d.rng.Uint64(), d.live)
	if err != nil {
		return hit{}, err
	}
	f := flips[0]
	return hit{file: d.t.SegmentPath(f.Segment), from: f.Offset, to: f.Offset + 1}, nil
}

// snapshot returns the path of the snapshot the MANIFEST names.
func (d *damager) snapshot() (string, error) {
	m, err := d.t.manifest()
	if err != nil || m.SnapshotID == 0 {
		return "", errSkip
	}
	return filepath.Join(d.t.dir, snapDirName, fmt.Sprintf("snap-%06d.chk", m.SnapshotID)), nil
}

// recordField rewrites a field of a random record of a live segment.
func (d *damager) recordField(set func(b []byte, r record), wellFormed bool, reasons ...string) (hit, error) {
	path, r, ok := d.randomRecord(false)
	if !ok {
		return hit{}, errSkip
	}
	return hit{file: path, from: r.off, to: r.off + 4, wellFormed: wellFormed, reasons: reasons},
		d.t.rewrite(path, func(b []byte) ([]byte, error) { set(b, r); return b, nil })
}

// randomRecord picks a record of a live segment (the last of its segment,
// with last).
func (d *damager) randomRecord(last bool) (string, record, bool) {
	var paths []string
	for _, s := range d.live {
		if p := d.t.SegmentPath(s); len(d.h.records[p]) > 0 {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return "", record{}, false
	}
	p := paths[d.rng.IntN(len(paths))]
	rs := d.h.records[p]
	if last {
		return p, rs[len(rs)-1], true
	}
	return p, rs[d.rng.IntN(len(rs))], true
}

// hugeCount rewrites the last record of a segment so that its writeset
// claims 2^40 mutations, with a valid checksum: a decoder that trusts the
// count allocates for it.
func (d *damager) hugeCount() (hit, error) {
	path, r, ok := d.randomRecord(true)
	if !ok {
		return hit{}, errSkip
	}
	return hit{file: path, from: r.off, to: -1, wellFormed: true, reasons: []string{"writeset", "applied", "malformed", "durable end"}},
		d.t.rewrite(path, func(b []byte) ([]byte, error) { return rewriteCount(b, r), nil })
}

// rewriteCount replaces the record r at the end of segment b with one whose
// writeset count is 2^40 (the rest of its writeset kept), length and
// checksum made to match.
func rewriteCount(b []byte, r record) []byte {
	payload := b[r.off+recordPrefix : r.end-4]
	_, n := binary.Uvarint(payload)
	newPayload := binary.AppendUvarint(nil, 1<<40)
	newPayload = append(newPayload, payload[max(n, 0):]...)
	rec := binary.LittleEndian.AppendUint32(nil, uint32(recordPrefix-4+len(newPayload)+4))
	rec = append(rec, b[r.off+4:r.off+recordPrefix]...)
	rec = append(rec, newPayload...)
	rec = binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
	return append(append(b[:r.off:r.off], rec...), b[r.end:]...)
}

// hugeBlockCount sets a snapshot trailer's block count to 2^60 and fixes
// the trailer's checksum.
func hugeBlockCount(b []byte) ([]byte, error) {
	if len(b) < snapshotTrailer {
		return nil, errors.New("crashtest: the snapshot has no trailer")
	}
	t := b[len(b)-snapshotTrailer:]
	binary.LittleEndian.PutUint64(t[4:], 1<<60)
	crc := crc32.Checksum(t[:20], castagnoli)
	binary.LittleEndian.PutUint32(t[20:], crc)
	return b, nil
}

// snapshotHeaderSize is where a snapshot's first block starts: after the
// fixed header, the codec id and the header's checksum.
func snapshotHeaderSize(b []byte) int {
	fixed := snapshotFixedV2
	if len(b) >= 8 && binary.LittleEndian.Uint32(b[4:]) == 1 {
		fixed = snapshotFixedV1
	}
	if len(b) < fixed {
		return 0
	}
	return fixed + int(binary.LittleEndian.Uint16(b[fixed-2:])) + 4
}

// liveSegments returns the segments recovery reads: from the MANIFEST's
// active segment on.
func liveSegments(t *WALCorruptionTester, active uint64) []uint64 {
	all, _ := t.Segments()
	var live []uint64
	for _, s := range all {
		if s >= active {
			live = append(live, s)
		}
	}
	return live
}

// Damages returns the names of the damages a case draws from.
func Damages() []string {
	names := make([]string, len(damages))
	for i, d := range damages {
		names[i] = d.name
	}
	return names
}
