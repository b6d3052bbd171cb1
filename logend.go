package inmem

import (
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/wal"
)

// The durable end of the log: the MANIFEST records a place the log is known
// to reach durably (see the internal/manifest package doc for when), and
// recovery refuses a log that ends before it. These helpers keep it.

// currentManifest returns a copy of the MANIFEST as last written.
func (db *DB) currentManifest() manifest.Manifest {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	return db.manifest
}

// updateManifest replaces the MANIFEST with what change makes of it, if
// that differs, hitting crash point p. It reports whether the file was
// renamed into place: an error after that leaves the MANIFEST unknown.
func (db *DB) updateManifest(p crashpoint.Point, change func(*manifest.Manifest)) (bool, error) {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	m := db.manifest
	change(&m)
	if m == db.manifest {
		return false, nil
	}
	renamed, err := manifest.Write(db.opts.FS, db.dir, m, db.opts.CrashPoints, p)
	if err == nil {
		db.manifest = m
	}
	return renamed, err
}

// recordLogEnd moves the MANIFEST's log end forward to pos, which must be
// durable; it never moves it back.
func (db *DB) recordLogEnd(p crashpoint.Point, pos wal.Position) (bool, error) {
	return db.updateManifest(p, func(m *manifest.Manifest) { advanceLogEnd(m, pos) })
}

func advanceLogEnd(m *manifest.Manifest, pos wal.Position) {
	if e := logEndOf(pos); m.LogEnd.Before(e) {
		m.LogEnd = e
	}
}

func logEndOf(pos wal.Position) manifest.LogEnd {
	return manifest.LogEnd{Segment: pos.Segment, Offset: pos.Offset, Txn: pos.Txn}
}

func positionOf(e manifest.LogEnd) wal.Position {
	return wal.Position{Segment: e.Segment, Offset: e.Offset, Txn: e.Txn}
}

// logRotated is the log's Rotated hook: a new segment exists, durably, and
// the MANIFEST learns of it before any record goes into it, so that losing
// it (and the records it will hold) is noticed.
func (db *DB) logRotated(start wal.Position) error {
	_, err := db.recordLogEnd(crashpoint.DuringLogEndUpdate, start)
	return err
}
