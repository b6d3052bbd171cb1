package inmem

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/internal/writeset"
	"github.com/in-mem/inmem/vfs"
)

// LockName is the lock file inside a database directory.
const LockName = "LOCK"

// RecoveryReport says what Open found and did.
type RecoveryReport struct {
	Created    bool    // the directory held no database; a new one was made
	SnapshotID uint64  // the snapshot recovery started from (0: none)
	Watermark  Version // the snapshot's watermark
	Segments   int     // log segments read
	Records    int     // log records replayed (above the watermark)
	Last       Version // the last recovered version
	// A torn tail, truncated: the segment, the offset it was cut at and how
	// many bytes were cut. A segment whose header never became durable is
	// removed instead (HeaderTorn). A read-only open reports the torn tail
	// and leaves it on disk.
	TornSegment string
	TornOffset  int64
	TornBytes   int64
	HeaderTorn  bool
	// Damage that RecoverPointInTime set aside (nil in strict mode, where
	// such damage fails Open).
	Dropped  *DroppedReport
	Duration time.Duration
}

// DroppedReport describes what a point-in-time recovery set aside.
type DroppedReport struct {
	Damage   *CorruptionError // the first damage
	Segments []string         // segment files moved whole into lost+found
	Cut      string           // the damaged segment, copied whole into lost+found, then truncated
	CutAt    int64
	LostDir  string
}

// Recovery returns what Open found and did.
func (db *DB) Recovery() RecoveryReport { return db.recovery }

func (db *DB) path(parts ...string) string {
	return filepath.Join(append([]string{db.dir}, parts...)...)
}

func (db *DB) walDir() string  { return db.path(wal.DirName) }
func (db *DB) snapDir() string { return db.path(snapshot.DirName) }

func (db *DB) openDisk() (err error) {
	start := time.Now()
	defer func() { db.recovery.Duration = time.Since(start) }()
	if db.opts.ReadOnly {
		return db.openReadOnly()
	}
	fsys := db.opts.FS
	if db.opts.MustExist {
		// Checked before anything is created, and again under the lock.
		if ok, err := vfs.Exists(fsys, db.path(manifest.FileName)); err != nil || !ok {
			return cmp.Or(err, noManifest(db.opts, db.dir))
		}
	}
	exported, err := checkExport(fsys, db.dir)
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(db.dir); err != nil {
		return err
	}
	lock, err := fsys.Lock(db.path(LockName))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	db.lock = lock
	m, err := manifest.Read(fsys, db.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && db.opts.MustExist:
		return noManifest(db.opts, db.dir)
	case errors.Is(err, fs.ErrNotExist):
		return db.create()
	case err != nil:
		return err
	}
	if err := db.recover(m); err != nil {
		return err
	}
	if exported {
		if err := dropExportMarker(fsys, db.dir); err != nil {
			db.log.Close()
			return err
		}
	}
	return nil
}

// create makes a new database: directories, segment 1, then the MANIFEST,
// each made durable before the next. A directory without a MANIFEST that
// already holds log records or snapshots is not new: it lost its MANIFEST.
func (db *DB) create() error {
	fsys := db.opts.FS
	if err := orphanData(db.opts, db.dir); err != nil {
		return err
	}
	uuid, err := newUUID()
	if err != nil {
		return err
	}
	for _, d := range []string{db.walDir(), db.snapDir()} {
		if err := fsys.MkdirAll(d); err != nil {
			return err
		}
	}
	// Open may have created db.dir and any of its parents: make every
	// directory entry on the way durable, or a power loss can take the whole
	// database with it.
	if err := db.syncDirs(append(ancestors(db.dir), db.dir)...); err != nil {
		return err
	}
	f, err := wal.CreateSegment(fsys, db.walDir(), 1, uuid, db.opts.CrashPoints)
	if err != nil {
		return err
	}
	m := manifest.Manifest{UUID: uuid, CodecID: db.opts.Codec.ID(), ActiveSegment: 1,
		LogEnd: manifest.LogEnd{Segment: 1, Offset: wal.HeaderSize}}
	if _, err := manifest.Write(fsys, db.dir, m, db.opts.CrashPoints, crashpoint.DuringManifestUpdate); err != nil {
		f.Close()
		return err
	}
	db.uuid, db.manifest = uuid, m
	db.recovery = RecoveryReport{Created: true}
	db.log = wal.NewWriter(db.writerOptions(), 1, f, wal.HeaderSize, 0)
	return nil
}

func (db *DB) writerOptions() wal.WriterOptions {
	return wal.WriterOptions{
		FS: db.opts.FS, Dir: db.walDir(), UUID: db.uuid, SegmentSize: db.opts.SegmentSize,
		CrashPoints: db.opts.CrashPoints, Publish: db.publish,
		SyncEachCommit: db.opts.Durability == Strict, Rotated: db.logRotated,
		PrepareAhead: db.opts.Preparation != PrepareNone, PrepareInline: db.opts.Preparation == PrepareInline,
	}
}

// recover loads the MANIFEST's snapshot, replays the log above its
// watermark, deals with damage, makes everything it read durable and opens
// the log for appending.
func (db *DB) recover(m manifest.Manifest) error {
	res, err := db.load(m)
	if err != nil {
		return err
	}
	active, size, err := db.settleDamage(res)
	if err != nil {
		return err
	}
	return db.openLog(res, active, size)
}

// load loads the MANIFEST's snapshot and replays the log above its
// watermark, changing nothing on disk. It returns the scan, damage and all.
func (db *DB) load(m manifest.Manifest) (*wal.ScanResult, error) {
	if m.CodecID != db.opts.Codec.ID() {
		return nil, fmt.Errorf("%w: the database was written with codec %q, opened with %q", ErrCodecMismatch, m.CodecID, db.opts.Codec.ID())
	}
	db.uuid, db.manifest = m.UUID, m
	db.recovery = RecoveryReport{SnapshotID: m.SnapshotID, Watermark: Version(m.Watermark)}
	if m.SnapshotID != 0 {
		s, err := loadSnapshot(db.opts, db.snapDir(), m)
		if err != nil {
			return nil, err
		}
		db.store = s
	}
	db.store.PackValues(true) // a replay's values mostly stay: see PackValues
	res, err := wal.Scan(wal.ScanOptions{
		FS: db.opts.FS, Dir: db.walDir(), UUID: m.UUID, MaxRecordSize: db.opts.MaxRecordSize - 4,
		FirstSegment: m.ActiveSegment, CrashPoints: db.opts.CrashPoints,
		DurableEnd: positionOf(m.LogEnd), Apply: db.replay(m.Watermark),
		Map: true, // replay copies each payload before decoding it
	})
	db.store.PackValues(false)
	if err != nil {
		return nil, err
	}
	db.recovery.Segments = len(res.Segments)
	return res, nil
}

// replay returns the function that applies one log record during recovery.
func (db *DB) replay(watermark uint64) func(uint64, int64, wal.Record) error {
	var buf []byte
	var ms []writeset.Mutation
	return func(_ uint64, _ int64, r wal.Record) error {
		if r.Txn <= watermark {
			return nil // in the snapshot already
		}
		if last := db.store.Last(); r.Txn != last+1 {
			return fmt.Errorf("record %d follows version %d: records are missing", r.Txn, last)
		}
		plain, err := db.opts.Codec.Decode(buf[:0], r.Payload)
		if err != nil {
			return err
		}
		buf = plain // reused by the next record: Apply copies what it keeps
		ms, err = writeset.DecodeInto(ms, plain)
		if err != nil {
			return err
		}
		if err := db.store.Apply(r.Txn, r.TS, ms); err != nil {
			return err
		}
		db.recovery.Records++
		return nil
	}
}

func loadSnapshot(o Options, dir string, m manifest.Manifest) (*state.Store, error) {
	path := filepath.Join(dir, snapshot.FileName(m.SnapshotID))
	f, err := o.FS.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, base.Corruptf(path, -1, "snapshot %d named by the MANIFEST is missing", m.SnapshotID)
		}
		return nil, err
	}
	defer f.Close()
	info, err := o.FS.Stat(path)
	if err != nil {
		return nil, err
	}
	r, h, err := snapshot.NewReader(io.NewSectionReader(f, 0, info.Size()), path, o.Codec)
	if err != nil {
		return nil, err
	}
	if h.UUID != m.UUID || h.ID != m.SnapshotID || h.Watermark != m.Watermark || h.CodecID != m.CodecID {
		return nil, base.Corruptf(path, 0, "snapshot header (id %d, watermark %d, codec %q) does not match the MANIFEST (id %d, watermark %d, codec %q)",
			h.ID, h.Watermark, h.CodecID, m.SnapshotID, m.Watermark, m.CodecID)
	}
	s, _, err := state.DecodeSnapshot(r, m.Watermark, o.MaxRecordSize)
	if err != nil {
		var ce *base.CorruptionError
		if errors.As(err, &ce) {
			return nil, ce // the damaged block, with its file and offset
		}
		return nil, &base.CorruptionError{File: path, Offset: -1, Reason: "snapshot content does not decode", Err: err}
	}
	s.AdvanceClock(h.Clock)
	return s, nil
}

// settleDamage handles the scan's damage: a torn tail is truncated (or a
// torn new segment removed); other damage fails Open, or with
// RecoverPointInTime is set aside. It returns the segment to append to and
// its valid size.
func (db *DB) settleDamage(res *wal.ScanResult) (uint64, int64, error) {
	d := res.Damage
	if d == nil {
		last := res.Segments[len(res.Segments)-1]
		return last.Num, last.ValidEnd, nil
	}
	if d.Torn {
		return db.truncateTorn(res)
	}
	if db.opts.Recovery != RecoverPointInTime {
		return 0, 0, d.Error()
	}
	return db.setAside(res)
}

func (db *DB) truncateTorn(res *wal.ScanResult) (uint64, int64, error) {
	d, fsys, cp := res.Damage, db.opts.FS, db.opts.CrashPoints
	info := db.reportTorn(res)
	cp.Hit(crashpoint.DuringRecovery)
	if d.HeaderTorn {
		if err := fsys.Remove(d.Path); err != nil {
			return 0, 0, err
		}
		cp.Hit(crashpoint.DuringRecovery)
		if err := vfs.SyncDir(fsys, db.walDir()); err != nil {
			return 0, 0, err
		}
		db.opts.Logger.Warn("removed a log segment whose creation a crash cut short", "segment", d.Path)
		prev := res.Segments[len(res.Segments)-2]
		return prev.Num, prev.ValidEnd, nil
	}
	if db.opts.Recovery == RecoverPointInTime {
		// A repair keeps every byte it cuts.
		if err := db.keepInLostFound(info, "a torn tail cut at offset "+fmt.Sprint(info.ValidEnd)); err != nil {
			return 0, 0, err
		}
	}
	if err := fsys.Truncate(d.Path, info.ValidEnd); err != nil {
		return 0, 0, err
	}
	cp.Hit(crashpoint.DuringRecovery)
	db.opts.Logger.Warn("truncated a torn log tail", "segment", d.Path, "offset", info.ValidEnd, "bytes", db.recovery.TornBytes, "reason", d.Reason)
	return info.Num, info.ValidEnd, nil
}

// reportTorn records a torn tail in the recovery report and returns the
// torn segment.
func (db *DB) reportTorn(res *wal.ScanResult) wal.SegmentInfo {
	info := res.Segments[len(res.Segments)-1]
	db.recovery.TornSegment, db.recovery.TornOffset = res.Damage.Path, info.ValidEnd
	db.recovery.TornBytes = info.Size - info.ValidEnd
	db.recovery.HeaderTorn = res.Damage.HeaderTorn
	return info
}

// openLog makes everything recovery read durable, records the end of the
// recovered log in the MANIFEST, then opens the log for appending: a second
// crash must not lose what this recovery served.
func (db *DB) openLog(res *wal.ScanResult, active uint64, size int64) error {
	fsys := db.opts.FS
	db.recovery.Last = Version(max(db.store.Last(), db.manifest.Watermark))
	for _, s := range res.Segments {
		if s.Num >= active {
			break
		}
		if err := syncFile(fsys, s.Path); err != nil {
			return err
		}
	}
	if err := syncFile(fsys, db.path(manifest.FileName)); err != nil {
		return err
	}
	if err := db.syncDirs(db.walDir(), db.snapDir(), db.dir); err != nil {
		return err
	}
	f, active, size, err := db.openActive(active, size)
	if err != nil {
		return err
	}
	if segmentVersion(res, active) == wal.FormatV1 {
		if f, active, size, err = db.continueInNewFormat(f, active); err != nil {
			return err
		}
	}
	if err := db.recordRecoveredEnd(res, active, size); err != nil {
		f.Close()
		return err
	}
	db.publishRecovered()
	db.log = wal.NewWriter(db.writerOptions(), active, f, size, db.last)
	return nil
}

// publishRecovered makes what recovery loaded the state readers see and
// the next commit follows.
func (db *DB) publishRecovered() {
	last := uint64(db.recovery.Last)
	db.last, db.lastTS = last, db.store.Clock()
	db.visible.Store(last)
	db.store.SetFloor(last)
}

// openActive opens the segment to append to and syncs it.
func (db *DB) openActive(active uint64, size int64) (vfs.File, uint64, int64, error) {
	fsys := db.opts.FS
	if active == 0 {
		// Point-in-time recovery set every segment aside: start the log again
		// where the MANIFEST says it starts.
		active, size = db.manifest.ActiveSegment, wal.HeaderSize
		f, err := wal.CreateSegment(fsys, db.walDir(), active, db.uuid, db.opts.CrashPoints)
		return f, active, size, err
	}
	f, err := fsys.OpenAppend(filepath.Join(db.walDir(), wal.SegmentName(active)))
	if err != nil {
		return nil, 0, 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	return f, active, size, nil
}

// segmentVersion returns the format version of segment num as the scan
// read it (the current one for a segment it did not read: a new one).
func segmentVersion(res *wal.ScanResult, num uint64) uint32 {
	for _, s := range res.Segments {
		if s.Num == num && s.Version != 0 {
			return s.Version
		}
	}
	return wal.FormatVersion
}

// continueInNewFormat closes f, the active segment of an older format
// (whose records the writer does not write), and starts the next segment
// in the current format, as a rotation does: the recovered end of the log
// then names it.
func (db *DB) continueInNewFormat(f vfs.File, active uint64) (vfs.File, uint64, int64, error) {
	if err := f.Close(); err != nil {
		return nil, 0, 0, err
	}
	next, err := wal.CreateSegment(db.opts.FS, db.walDir(), active+1, db.uuid, db.opts.CrashPoints)
	if err != nil {
		return nil, 0, 0, err
	}
	return next, active + 1, wal.HeaderSize, nil
}

// recordRecoveredEnd makes the end of the recovered log, now durable, the
// MANIFEST's log end, if it is not already. It moves the end forward, or,
// after a point-in-time recovery cut durable records, back to what remains.
func (db *DB) recordRecoveredEnd(res *wal.ScanResult, active uint64, size int64) error {
	// The last record kept is at or above the watermark; without one, the
	// watermark is the last txn.
	end := manifest.LogEnd{Segment: active, Offset: size, Txn: max(res.LastTxn, db.manifest.Watermark)}
	_, err := db.updateManifest(crashpoint.DuringLogEndUpdate, func(m *manifest.Manifest) { m.LogEnd = end })
	return err
}

func syncFile(fsys vfs.FS, path string) error {
	f, err := fsys.OpenAppend(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ancestors returns the directories above dir, nearest first, up to the
// root (or the current directory for a relative path).
func ancestors(dir string) []string {
	var out []string
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		out = append(out, d)
		if d == filepath.Dir(d) {
			return out
		}
	}
}

func (db *DB) syncDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := vfs.SyncDir(db.opts.FS, d); err != nil {
			return err
		}
	}
	return nil
}
