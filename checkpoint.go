package inmem

import (
	"errors"
	"io"
	"path/filepath"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/state"
)

// CheckpointInfo describes a checkpoint.
type CheckpointInfo struct {
	SnapshotID uint64
	Watermark  Version // every commit at or below it is in the snapshot
	File       string  // the snapshot file
	Bytes      int64   // its size on disk
	Logical    uint64  // bytes of keys, values and payloads it holds
	Runs       uint64
	Keys       uint64
	Versions   uint64
	Events     uint64
	Cells      uint64
	Duration   time.Duration
}

// Checkpoint writes a snapshot of the whole state at the current committed
// version and points the MANIFEST at it, so that recovery starts there and
// replays only newer log records (and Compact can drop older segments).
// Writers continue meanwhile; the snapshot is one point in time. In
// InMemory mode it does nothing.
func (db *DB) Checkpoint() (CheckpointInfo, error) {
	db.maintMu.Lock()
	defer db.maintMu.Unlock()
	if err := db.writable(); err != nil {
		return CheckpointInfo{}, err
	}
	if db.log == nil {
		return CheckpointInfo{}, nil
	}
	return db.checkpointLocked()
}

// checkpointLocked runs with maintMu held.
func (db *DB) checkpointLocked() (CheckpointInfo, error) {
	start := time.Now()
	// Fix the watermark and the segment recovery will start from: every
	// segment before the active one holds only records at or below it.
	db.commitMu.Lock()
	w, clock := db.last, db.lastTS
	active := db.log.Segment()
	db.pin.Store(max(w, 1))
	db.updateFloor()
	db.commitMu.Unlock()
	defer func() { db.pin.Store(0); db.updateFloor() }()

	// The records up to the watermark must be durable before a MANIFEST
	// claims them: recovery insists the log continues the snapshot.
	if err := db.log.Sync(); err != nil {
		return CheckpointInfo{}, db.fail(err)
	}
	synced := db.log.Durable()
	id, err := db.nextSnapshotID()
	if err != nil {
		return CheckpointInfo{}, err
	}
	info := CheckpointInfo{SnapshotID: id, Watermark: Version(w), File: filepath.Join(db.snapDir(), snapshot.FileName(id))}
	h := snapshot.Header{UUID: db.uuid, ID: id, Watermark: w, Clock: clock, CodecID: db.opts.Codec.ID()}
	var stats state.SnapshotStats
	size, renamed, err := snapshot.WriteFile(db.opts.FS, db.snapDir(), h, db.opts.Codec, db.opts.CrashPoints, func(wr io.Writer) error {
		var err error
		stats, err = db.store.EncodeSnapshot(wr, w)
		return err
	})
	if err != nil {
		return info, db.failIf(renamed, err)
	}
	renamed, err = db.updateManifest(crashpoint.DuringManifestUpdate, func(m *manifest.Manifest) {
		m.ActiveSegment, m.SnapshotID, m.Watermark = active, id, w
		advanceLogEnd(m, synced)
	})
	if err != nil {
		return info, db.failIf(renamed, err)
	}
	info.Bytes, info.Logical = size, stats.Bytes
	info.Runs, info.Keys, info.Versions, info.Events, info.Cells = stats.Runs, stats.Keys, stats.Versions, stats.Events, stats.Cells
	info.Duration = time.Since(start)
	return info, nil
}

// failIf fails the database if a file was renamed into place (the directory
// is then in an unknown state) or a sync failed; other errors (a temp file
// that could not be written, say for lack of space) leave the database
// writable.
func (db *DB) failIf(renamed bool, err error) error {
	if renamed || errors.Is(err, base.ErrSyncFailed) {
		return db.fail(err)
	}
	return err
}

// nextSnapshotID is one above every snapshot file present, so a new
// snapshot never replaces a file, not even an unreferenced one.
func (db *DB) nextSnapshotID() (uint64, error) {
	id := db.currentManifest().SnapshotID
	names, err := db.opts.FS.List(db.snapDir())
	if err != nil {
		return 0, err
	}
	for _, n := range names {
		if x, ok := snapshot.ParseFileName(n); ok && x > id {
			id = x
		}
	}
	return id + 1, nil
}
