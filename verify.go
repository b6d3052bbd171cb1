package inmem

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// VerifyReport is what Verify recovered.
type VerifyReport struct {
	Dir        string  `json:"dir"`
	SnapshotID uint64  `json:"snapshot_id"` // the snapshot recovery started from (0: none)
	Watermark  Version `json:"watermark"`
	Segments   int     `json:"segments"` // log segments read
	Records    int     `json:"records"`  // log records replayed above the watermark
	// What the recovered database holds.
	Runs        int     `json:"runs"`
	Keys        int     `json:"keys"`
	Versions    int     `json:"versions"`
	Events      int     `json:"events"`
	Cells       int     `json:"cells"`
	LastVersion Version `json:"last_version"`
	// TornTail says the log ends in a torn tail, which Open would cut off:
	// TornBytes bytes of TornSegment from TornOffset on (the whole segment
	// if HeaderTorn). It is what a power loss leaves, not corruption.
	TornTail    bool          `json:"torn_tail"`
	TornSegment string        `json:"torn_segment,omitempty"`
	TornOffset  int64         `json:"torn_offset,omitempty"`
	TornBytes   int64         `json:"torn_bytes,omitempty"`
	HeaderTorn  bool          `json:"header_torn,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
}

// Verify recovers the database in dir into memory, exactly as Open would,
// and reports what it holds. It changes nothing on disk: the database's
// files are copied into a vfs.MemFS and opened there, so the truncation of a
// torn tail and every sync happen in memory. Damage Open would refuse is
// returned as a *CorruptionError (errors.Is ErrCorrupt) naming file, offset
// and reason, with the report so far. A directory holding no database gives
// an error matching fs.ErrNotExist.
//
// Verify takes the database's lock while it copies, if the LOCK file
// exists, so a database another process has open fails with ErrLocked
// rather than being read while it changes.
//
// opts supplies FS (where the database is), Codec or EncryptionKey,
// MaxRecordSize and Durability; nil means the defaults. Recovery is always
// RecoverStrict and CrashPoints are not used.
func Verify(dir string, opts *Options) (*VerifyReport, error) {
	o, err := opts.prepare()
	if err != nil {
		return nil, err
	}
	if o.Durability == InMemory || dir == "" {
		return nil, invalidf("Verify needs a database directory")
	}
	start := time.Now()
	rep := &VerifyReport{Dir: dir}
	mem, err := snapshotDir(o.FS, dir)
	if err != nil {
		return nil, err
	}
	// NB: o is prepared: its Codec holds the key, and Open refuses both set.
	o.FS, o.Recovery, o.CrashPoints, o.EncryptionKey = mem, RecoverStrict, nil, nil
	db, err := Open(dir, &o)
	if err != nil {
		return rep, err
	}
	defer db.Close()
	if db.recovery.Created {
		return rep, &CorruptionError{File: filepath.Join(dir, manifest.FileName), Offset: -1, Reason: "MANIFEST is missing"}
	}
	rep.fill(db)
	rep.Duration = time.Since(start)
	return rep, db.Close()
}

func (rep *VerifyReport) fill(db *DB) {
	rec := db.Recovery()
	rep.SnapshotID, rep.Watermark = rec.SnapshotID, rec.Watermark
	rep.Segments, rep.Records = rec.Segments, rec.Records
	rep.TornTail = rec.TornSegment != ""
	rep.TornSegment, rep.TornOffset, rep.TornBytes, rep.HeaderTorn = rec.TornSegment, rec.TornOffset, rec.TornBytes, rec.HeaderTorn
	rep.LastVersion = db.LastVersion()
	rep.Runs, rep.Keys, rep.Versions, rep.Events, rep.Cells = db.store.Counts(uint64(rep.LastVersion))
}

// snapshotDir copies the files recovery reads (the MANIFEST and its temp
// file, the WAL and SNAPSHOTS directories) from dir on fsys into a new
// MemFS under the same path, so that errors name the real files. The lock
// file and lost+found are left out.
func snapshotDir(fsys vfs.FS, dir string) (*vfs.MemFS, error) {
	if err := checkIsDatabase(fsys, dir); err != nil {
		return nil, err
	}
	lock, err := lockIfPresent(fsys, dir)
	if err != nil {
		return nil, err
	}
	if lock != nil {
		defer lock.Close()
	}
	mem := vfs.NewMemFS()
	if err := mem.MkdirAll(dir); err != nil {
		return nil, err
	}
	for _, name := range []string{manifest.FileName, manifest.TempName} {
		if err := copyIfPresent(fsys, mem, filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{wal.DirName, snapshot.DirName} {
		if err := copyDir(fsys, mem, filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	return mem, nil
}

// checkIsDatabase refuses a directory with neither a MANIFEST nor a log:
// Open would create a database there.
func checkIsDatabase(fsys vfs.FS, dir string) error {
	for _, name := range []string{manifest.FileName, wal.DirName} {
		ok, err := vfs.Exists(fsys, filepath.Join(dir, name))
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("inmem: no in-mem database in %s: %w", dir, fs.ErrNotExist)
}

// lockIfPresent takes the database's lock if its LOCK file exists (taking
// it does not change the file). A lock that cannot be taken for another
// reason than its being held, say on a read-only copy, is skipped.
func lockIfPresent(fsys vfs.FS, dir string) (io.Closer, error) {
	path := filepath.Join(dir, LockName)
	if ok, err := vfs.Exists(fsys, path); err != nil || !ok {
		return nil, err
	}
	lock, err := fsys.Lock(path)
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("inmem: verify %s: the database is open in another process; close it first: %w", dir, err)
	}
	if err != nil {
		return nil, nil
	}
	return lock, nil
}

func copyIfPresent(from vfs.FS, to *vfs.MemFS, path string) error {
	data, err := vfs.ReadFile(from, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return vfs.WriteFile(to, path, data)
}

// copyDir copies the regular files of dir; a missing dir is not copied.
func copyDir(from vfs.FS, to *vfs.MemFS, dir string) error {
	names, err := from.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := to.MkdirAll(dir); err != nil {
		return err
	}
	for _, n := range names {
		path := filepath.Join(dir, n)
		fi, err := from.Stat(path)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			continue
		}
		if err := copyIfPresent(from, to, path); err != nil {
			return err
		}
	}
	return vfs.SyncDir(to, dir)
}
