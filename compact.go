package inmem

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// CompactMode chooses what Compact reclaims.
type CompactMode uint8

const (
	// CompactWALOnly removes the closed log segments the current snapshot
	// covers (every record at or below its watermark), older snapshots and
	// stale temp files. It changes no read.
	CompactWALOnly CompactMode = iota
	// CompactFull also applies every run's retention policy, then takes a
	// checkpoint so the removed versions stay removed after a reopen, then
	// does what CompactWALOnly does.
	CompactFull
)

func (m CompactMode) String() string {
	if m == CompactFull {
		return "full"
	}
	return "wal-only"
}

// CompactInfo reports what Compact reclaimed.
type CompactInfo struct {
	ReclaimedBytes   int64
	SegmentsRemoved  int
	SnapshotsRemoved int
	VersionsRemoved  int
	Checkpoint       *CheckpointInfo // the checkpoint CompactFull took
	Duration         time.Duration
}

// Compact reclaims disk space (and, with CompactFull, old versions). It
// never removes the active segment or anything recovery still needs, and
// every retained read returns the same before and after.
func (db *DB) Compact(mode CompactMode) (CompactInfo, error) {
	if mode > CompactFull {
		return CompactInfo{}, invalidf("unknown compaction mode %d", mode)
	}
	db.maintMu.Lock()
	defer db.maintMu.Unlock()
	if err := db.writable(); err != nil {
		return CompactInfo{}, err
	}
	start := time.Now()
	var info CompactInfo
	if mode == CompactFull {
		info.VersionsRemoved = db.applyRetention()
		if db.log != nil {
			ck, err := db.checkpointLocked()
			if err != nil {
				return info, err
			}
			info.Checkpoint = &ck
		}
	}
	if db.log != nil {
		if err := db.removeCovered(&info); err != nil {
			return info, err
		}
	}
	info.Duration = time.Since(start)
	return info, nil
}

// applyRetention trims every run's KV history by its policy.
func (db *DB) applyRetention() int {
	at := db.visible.Load()
	now := time.Now().UnixMicro()
	removed := 0
	for _, r := range db.store.Runs(at) {
		e, ok := db.store.Retention(r.ID, at)
		if !ok {
			continue
		}
		p, err := state.DecodePolicy(e.Value)
		if err != nil {
			db.opts.Logger.Error("skipping an unreadable retention policy", "run", RunID(r.ID), "err", err)
			continue
		}
		removed += db.store.Trim(r.ID, p, at, now)
	}
	return removed
}

// removeCovered deletes what the current MANIFEST no longer needs: segments
// before its active segment, other snapshots, temp files.
func (db *DB) removeCovered(info *CompactInfo) error {
	fsys, m := db.opts.FS, db.currentManifest()
	nums, err := wal.ListSegments(fsys, db.walDir())
	if err != nil {
		return err
	}
	for _, n := range nums {
		if n >= m.ActiveSegment {
			break
		}
		size, err := removeFile(fsys, filepath.Join(db.walDir(), wal.SegmentName(n)))
		if err != nil {
			return err
		}
		info.SegmentsRemoved++
		info.ReclaimedBytes += size
		db.opts.CrashPoints.Hit(crashpoint.DuringCompaction)
	}
	names, err := fsys.List(db.snapDir())
	if err != nil {
		return err
	}
	for _, n := range names {
		id, isSnap := snapshot.ParseFileName(n)
		if (isSnap && id != m.SnapshotID) || strings.HasSuffix(n, ".tmp") {
			size, err := removeFile(fsys, filepath.Join(db.snapDir(), n))
			if err != nil {
				return err
			}
			info.ReclaimedBytes += size
			if isSnap {
				info.SnapshotsRemoved++
			}
		}
	}
	if err := db.removeManifestTemp(); err != nil {
		return err
	}
	if err := db.syncDirs(db.walDir(), db.snapDir(), db.dir); err != nil {
		return db.fail(err)
	}
	return nil
}

// removeManifestTemp removes a stale MANIFEST.tmp. NB: under manifestMu: a
// rotation may be writing it right now.
func (db *DB) removeManifestTemp() error {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	if ok, _ := vfs.Exists(db.opts.FS, db.path(manifest.TempName)); !ok {
		return nil
	}
	_, err := removeFile(db.opts.FS, db.path(manifest.TempName))
	return err
}

func removeFile(fsys vfs.FS, path string) (int64, error) {
	fi, err := fsys.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), fsys.Remove(path)
}
