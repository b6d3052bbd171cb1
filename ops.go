package inmem

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/internal/wal"
)

const recordOverhead = wal.RecordOverhead

func microsTime(us int64) time.Time { return time.UnixMicro(us) }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Each write below is a transaction of one operation.

// CreateRun creates a run named name. It fails with ErrRunExists if the
// name is taken.
func (db *DB) CreateRun(name string) (RunID, error) {
	var id RunID
	err := db.Update(func(tx *Tx) (err error) {
		id, err = tx.CreateRun(name)
		return err
	})
	return id, err
}

// GetOrCreateRun returns the run named name, creating it if needed.
func (db *DB) GetOrCreateRun(name string) (RunID, error) {
	if id, err := db.ResolveRun(name); err == nil {
		return id, nil
	}
	var id RunID
	err := db.Update(func(tx *Tx) (err error) {
		id, err = tx.GetOrCreateRun(name)
		return err
	})
	return id, err
}

// KVPut sets key to value and returns the commit's version.
func (db *DB) KVPut(run RunID, key string, value []byte) (Version, error) {
	return db.Commit(func(tx *Tx) error { return tx.KVPut(run, key, value) })
}

// KVDelete deletes key. It fails with ErrNotFound if the key does not exist.
func (db *DB) KVDelete(run RunID, key string) error {
	return db.Update(func(tx *Tx) error { return tx.KVDelete(run, key) })
}

// EventAppend appends payload to the run's event log and returns its
// sequence number: 0, 1, 2, ... per run, never a gap.
func (db *DB) EventAppend(run RunID, payload []byte) (uint64, error) {
	var seq uint64
	err := db.Update(func(tx *Tx) (err error) {
		seq, err = tx.EventAppend(run, payload)
		return err
	})
	return seq, err
}

// StateSet sets a state cell and returns the commit's version.
func (db *DB) StateSet(run RunID, cell string, value []byte) (Version, error) {
	return db.Commit(func(tx *Tx) error { return tx.StateSet(run, cell, value) })
}

// StateCAS sets a state cell only if its version is expected (0: only if it
// does not exist), and returns the new version. On a mismatch it returns a
// *VersionMismatchError (errors.Is ErrVersionMismatch).
func (db *DB) StateCAS(run RunID, cell string, expected Version, value []byte) (Version, error) {
	return db.Commit(func(tx *Tx) error { return tx.StateCAS(run, cell, expected, value) })
}

// SetRetentionPolicy stores the run's retention policy.
func (db *DB) SetRetentionPolicy(run RunID, p RetentionPolicy) (Version, error) {
	return db.Commit(func(tx *Tx) error { return tx.SetRetentionPolicy(run, p) })
}

// Reads see every acknowledged commit and never a commit that is not yet
// acknowledged: the published watermark. NB: reads of KV and state cells fix
// that version under the run's lock (the state.Run Now methods), since
// commits and compaction prune history below it.

// readRun returns the run at the published version.
func (db *DB) readRun(id RunID) (*state.Run, uint64, error) {
	if err := db.readable(); err != nil {
		return nil, 0, err
	}
	at := db.visible.Load()
	r, ok := db.store.Run(id, at)
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	return r, at, nil
}

// ResolveRun returns the id of the run named name, or ErrRunNotFound.
func (db *DB) ResolveRun(name string) (RunID, error) {
	if err := db.readable(); err != nil {
		return RunID{}, err
	}
	r, ok := db.store.RunByName(name, db.visible.Load())
	if !ok {
		return RunID{}, fmt.Errorf("%w: %q", ErrRunNotFound, name)
	}
	return RunID(r.ID), nil
}

// ListRuns returns every run, by name.
func (db *DB) ListRuns() ([]RunInfo, error) {
	if err := db.readable(); err != nil {
		return nil, err
	}
	var out []RunInfo
	for _, r := range db.store.Runs(db.visible.Load()) {
		out = append(out, RunInfo{ID: RunID(r.ID), Name: r.Name, Version: Version(r.Version), Created: microsTime(r.TS)})
	}
	return out, nil
}

// KVGet returns the latest value of key, or ErrNotFound.
func (db *DB) KVGet(run RunID, key string) (Versioned, error) {
	r, _, err := db.readRun(run)
	if err != nil {
		return Versioned{}, err
	}
	e, _, ok := r.KVNow(key, db.visible.Load)
	if !ok || e.Deleted {
		return Versioned{}, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	return versioned(e), nil
}

// KVGetAt returns the value key had at version ver: the newest version at
// or below ver. It returns ErrNotFound if the key did not exist (or was
// deleted) then, and a *HistoryTrimmedError if retention removed that
// version.
func (db *DB) KVGetAt(run RunID, key string, ver Version) (Versioned, error) {
	r, _, err := db.readRun(run)
	if err != nil {
		return Versioned{}, err
	}
	e, trimmed, ok := r.KVNow(key, func() uint64 { return min(db.visible.Load(), uint64(ver)) })
	if trimmed != 0 && uint64(ver) < trimmed {
		return Versioned{}, &HistoryTrimmedError{Key: key, Requested: ver, Earliest: Version(trimmed)}
	}
	if !ok || e.Deleted {
		return Versioned{}, fmt.Errorf("%w: key %q at version %d", ErrNotFound, key, ver)
	}
	return versioned(e), nil
}

// KVHistory returns every retained version of key, oldest first. A deletion
// appears as a version with a nil Value.
func (db *DB) KVHistory(run RunID, key string) ([]Versioned, error) {
	r, _, err := db.readRun(run)
	if err != nil {
		return nil, err
	}
	entries, _ := r.KVHistoryNow(key, db.visible.Load)
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	out := make([]Versioned, len(entries))
	for i, e := range entries {
		out[i] = versioned(e)
		if e.Deleted {
			out[i].Value = nil
		}
	}
	return out, nil
}

// KVKeys returns the keys of the run that start with prefix and are not
// deleted, sorted.
func (db *DB) KVKeys(run RunID, prefix string) ([]string, error) {
	r, _, err := db.readRun(run)
	if err != nil {
		return nil, err
	}
	return r.KVKeysNow(prefix, db.visible.Load), nil
}

// EventRange returns the events with from <= Seq < to. A to beyond the end
// is clamped; from >= to gives none.
func (db *DB) EventRange(run RunID, from, to uint64) ([]Event, error) {
	r, at, err := db.readRun(run)
	if err != nil {
		return nil, err
	}
	evs := r.Events(from, to, at)
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Seq: e.Seq, Payload: bytes.Clone(e.Payload), Version: Version(e.Version), Timestamp: microsTime(e.TS)}
	}
	return out, nil
}

// EventCount returns the number of events of the run: the next sequence
// number.
func (db *DB) EventCount(run RunID) (uint64, error) {
	r, at, err := db.readRun(run)
	if err != nil {
		return 0, err
	}
	return r.EventCount(at), nil
}

// StateGet returns a state cell's value and version, or ErrNotFound.
func (db *DB) StateGet(run RunID, cell string) (Versioned, error) {
	r, _, err := db.readRun(run)
	if err != nil {
		return Versioned{}, err
	}
	e, ok := r.CellNow(cell, db.visible.Load)
	if !ok {
		return Versioned{}, fmt.Errorf("%w: cell %q", ErrNotFound, cell)
	}
	return versioned(e), nil
}

// StateCells returns the names of the run's state cells, sorted.
func (db *DB) StateCells(run RunID) ([]string, error) {
	r, _, err := db.readRun(run)
	if err != nil {
		return nil, err
	}
	return r.CellNamesNow(db.visible.Load), nil
}

// LastVersion returns the highest version readers can see: every commit at
// or below it is acknowledged.
func (db *DB) LastVersion() Version { return Version(db.visible.Load()) }
