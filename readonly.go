package inmem

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// openReadOnly recovers the database into memory and writes nothing: it
// takes a shared lock on the LOCK file if there is one (never creating
// it), leaves a torn tail on disk (reporting it), syncs nothing and keeps
// no log open. Damage that Open would refuse is refused the same way.
func (db *DB) openReadOnly() (err error) {
	lock, err := vfs.LockShared(db.opts.FS, db.path(LockName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No LOCK file: no writer ever opened the directory, or it is a copy.
	case err != nil:
		return err
	default:
		db.lock = lock
		defer func() {
			if err != nil {
				lock.Close()
			}
		}()
	}
	m, err := manifest.Read(db.opts.FS, db.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return noManifest(db.opts, db.dir)
	}
	if err != nil {
		return err
	}
	res, err := db.load(m)
	if err != nil {
		return err
	}
	if d := res.Damage; d != nil && !d.Torn {
		return d.Error()
	} else if d != nil {
		db.reportTorn(res) // left on disk; the valid records before it are loaded
	}
	db.recovery.Last = Version(max(db.store.Last(), m.Watermark))
	db.publishRecovered()
	return nil
}

// notDatabaseError says a directory holds no database. It matches
// ErrNotDatabase and fs.ErrNotExist.
type notDatabaseError struct {
	dir    string
	detail string
}

func (e *notDatabaseError) Error() string {
	msg := "inmem: no database in " + e.dir
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

func (e *notDatabaseError) Is(target error) bool {
	return target == ErrNotDatabase || target == fs.ErrNotExist
}

// noManifest says what a directory without a MANIFEST is. The MANIFEST is
// the last file a creation writes, so without it the directory holds no
// database yet: nothing at all, or a creation cut short (which Open, for
// writing, finishes). Unless log records or snapshots exist: then the
// database lost its MANIFEST, which is corruption.
func noManifest(o Options, dir string) error {
	if err := orphanData(o, dir); err != nil {
		return err
	}
	for _, name := range []string{wal.DirName, snapshot.DirName, LockName} {
		if ok, _ := vfs.Exists(o.FS, filepath.Join(dir, name)); ok {
			return &notDatabaseError{dir, "its creation was cut short before it wrote the MANIFEST (no commit was ever made); opening it for writing creates the database anew"}
		}
	}
	return &notDatabaseError{dir: dir}
}

// orphanData returns a *CorruptionError if a directory without a MANIFEST
// holds log records or snapshots: a database that lost its MANIFEST.
func orphanData(o Options, dir string) error {
	mpath := filepath.Join(dir, manifest.FileName)
	if names, err := o.FS.List(filepath.Join(dir, snapshot.DirName)); err == nil {
		for _, n := range names {
			if _, ok := snapshot.ParseFileName(n); ok {
				return base.Corruptf(mpath, -1, "MANIFEST is missing but snapshot %s exists", n)
			}
		}
	}
	walDir := filepath.Join(dir, wal.DirName)
	nums, err := wal.ListSegments(o.FS, walDir)
	if err != nil {
		return nil // no WAL directory: nothing was ever written
	}
	for _, n := range nums {
		data, err := vfs.ReadFile(o.FS, filepath.Join(walDir, wal.SegmentName(n)))
		if err != nil {
			return err
		}
		if len(data) > wal.HeaderSize {
			if _, _, err := wal.DecodeRecord(data[wal.HeaderSize:], wal.HeaderSize, o.MaxRecordSize); err == nil {
				return base.Corruptf(mpath, -1, "MANIFEST is missing but segment %s holds records", wal.SegmentName(n))
			}
		}
	}
	return nil
}
