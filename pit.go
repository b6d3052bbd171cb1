package inmem

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// LostFoundName is the directory, inside a database directory, where
// point-in-time recovery and repair keep every file they change or drop.
const LostFoundName = "lost+found"

// setAside implements RecoverPointInTime: the log is cut at the first
// damage. Before anything changes, every segment after the damage is moved
// into lost+found and the damaged one is copied there whole; then the
// damaged one is truncated at its last valid record. A note says why.
func (db *DB) setAside(res *wal.ScanResult) (uint64, int64, error) {
	d, fsys := res.Damage, db.opts.FS
	lost := db.path(LostFoundName)
	if err := fsys.MkdirAll(lost); err != nil {
		return 0, 0, err
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000")
	rep := &DroppedReport{Damage: d.Error(), LostDir: lost}
	var note strings.Builder
	fmt.Fprintf(&note, "in-mem point-in-time recovery, %s\nfirst damage: %v\n", stamp, d.Error())

	for _, n := range d.Later {
		name := wal.SegmentName(n)
		if err := fsys.Rename(filepath.Join(db.walDir(), name), filepath.Join(lost, name+"."+stamp)); err != nil {
			return 0, 0, err
		}
		rep.Segments = append(rep.Segments, name)
		fmt.Fprintf(&note, "moved %s here whole: it comes after the damage\n", name)
	}
	active, size := uint64(0), int64(0)
	if info, ok := keptSegment(res, d); ok {
		active, size = info.Num, info.ValidEnd
		if info.Num == d.Segment {
			var err error
			if active, size, err = db.cutDamaged(res, info, lost, stamp, rep, &note); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := vfs.WriteFile(fsys, filepath.Join(lost, "NOTE-"+stamp+".txt"), []byte(note.String())); err != nil {
		return 0, 0, err
	}
	if err := db.syncDirs(lost, db.walDir(), db.dir); err != nil {
		return 0, 0, err
	}
	db.recovery.Dropped = rep
	db.opts.Logger.Warn("point-in-time recovery set damaged log data aside", "damage", d.Error(), "lost+found", lost)
	return active, size, nil
}

// keptSegment returns the last segment a point-in-time recovery keeps (in
// part): the damaged one if the scan read it, else the last it read.
func keptSegment(res *wal.ScanResult, d *wal.Damage) (wal.SegmentInfo, bool) {
	for _, s := range res.Segments {
		if s.Num == d.Segment {
			return s, true
		}
	}
	if len(res.Segments) == 0 {
		return wal.SegmentInfo{}, false
	}
	return res.Segments[len(res.Segments)-1], true
}

// cutDamaged copies the damaged segment into lost+found, then truncates it
// at its last valid record, or moves it whole if its header is bad. It
// returns the segment to append to.
func (db *DB) cutDamaged(res *wal.ScanResult, info wal.SegmentInfo, lost, stamp string, rep *DroppedReport, note *strings.Builder) (uint64, int64, error) {
	fsys := db.opts.FS
	name := wal.SegmentName(info.Num)
	if info.ValidEnd < wal.HeaderSize {
		if err := fsys.Rename(info.Path, filepath.Join(lost, name+"."+stamp)); err != nil {
			return 0, 0, err
		}
		rep.Segments = append(rep.Segments, name)
		fmt.Fprintf(note, "moved %s here whole: its header is damaged\n", name)
		if len(res.Segments) < 2 {
			return 0, 0, nil
		}
		prev := res.Segments[len(res.Segments)-2]
		return prev.Num, prev.ValidEnd, nil
	}
	if info.ValidEnd == info.Size || info.Rest {
		// The log ends early (before its durable end), with nothing after
		// its last valid record (or only the zeroed or stale rest of the
		// segment): there is nothing to cut or keep.
		fmt.Fprintf(note, "%s ends at offset %d, before the end the MANIFEST recorded: the records after it are lost, nothing was cut\n", name, info.Size)
		return info.Num, info.ValidEnd, nil
	}
	data, err := vfs.ReadFile(fsys, info.Path)
	if err != nil {
		return 0, 0, err
	}
	if err := vfs.WriteFile(fsys, filepath.Join(lost, name+"."+stamp), data); err != nil {
		return 0, 0, err
	}
	if err := fsys.Truncate(info.Path, info.ValidEnd); err != nil {
		return 0, 0, err
	}
	rep.Cut, rep.CutAt = name, info.ValidEnd
	fmt.Fprintf(note, "copied %s here whole, then cut it at offset %d (%d bytes dropped)\n", name, info.ValidEnd, info.Size-info.ValidEnd)
	return info.Num, info.ValidEnd, nil
}

// keepInLostFound copies a segment into lost+found, with a note saying why,
// before recovery changes it.
func (db *DB) keepInLostFound(info wal.SegmentInfo, why string) error {
	fsys := db.opts.FS
	lost := db.path(LostFoundName)
	if err := fsys.MkdirAll(lost); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000")
	data, err := vfs.ReadFile(fsys, info.Path)
	if err != nil {
		return err
	}
	name := wal.SegmentName(info.Num)
	if err := vfs.WriteFile(fsys, filepath.Join(lost, name+"."+stamp), data); err != nil {
		return err
	}
	note := fmt.Sprintf("in-mem point-in-time recovery, %s\ncopied %s here whole before cutting %s\n", stamp, name, why)
	if err := vfs.WriteFile(fsys, filepath.Join(lost, "NOTE-"+stamp+".txt"), []byte(note)); err != nil {
		return err
	}
	return db.syncDirs(lost, db.dir)
}
