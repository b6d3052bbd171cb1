package inmem

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/internal/wal"
)

// RunID identifies a run. It is assigned at creation and never reused.
type RunID [16]byte

// String returns the id in hex.
func (id RunID) String() string { return hex.EncodeToString(id[:]) }

// ParseRunID parses the hex form String returns.
func ParseRunID(s string) (RunID, error) {
	var id RunID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, invalidf("run id %q is not 32 hex digits", s)
	}
	return RunID(b), nil
}

// Version is a commit's version: the global, strictly increasing commit
// sequence. Every write of a commit carries its version.
type Version uint64

// Versioned is a value with the version and time of the commit that wrote it.
type Versioned struct {
	Value     []byte
	Version   Version
	Timestamp time.Time
}

// Event is one entry of a run's event log.
type Event struct {
	Seq       uint64
	Payload   []byte
	Version   Version
	Timestamp time.Time
}

// RunInfo describes a run.
type RunInfo struct {
	ID      RunID
	Name    string
	Version Version // the commit that created it
	Created time.Time
}

// DB is an open in-mem database. It is safe for concurrent use.
type DB struct {
	dir  string
	opts Options

	store   *state.Store
	log     *wal.Writer // nil when InMemory
	lock    io.Closer
	uuid    [16]byte
	visible atomic.Uint64 // highest version readers may see
	pin     atomic.Uint64 // a checkpoint's watermark while it reads, else 0
	closed  atomic.Bool
	failed  atomic.Pointer[error]

	// commitMu serializes commits: validation, version assignment, apply
	// and queueing the record.
	commitMu sync.Mutex
	last     uint64 // highest version assigned; guarded by commitMu
	lastTS   int64  // guarded by commitMu
	encBuf   []byte // guarded by commitMu
	payBuf   []byte // guarded by commitMu
	arena    []byte // copies of the current Tx's values (see Tx.own); guarded by commitMu

	// maintMu serializes checkpoints, compaction, export and Close.
	maintMu  sync.Mutex
	recovery RecoveryReport

	// manifestMu serializes MANIFEST updates: checkpoints, and the log's
	// rotations (under commitMu, so it is taken after commitMu, never
	// before).
	manifestMu sync.Mutex
	manifest   manifest.Manifest // guarded by manifestMu

	stopSync chan struct{}
	syncDone chan struct{}

	view View // what View hands out: it holds nothing but db
}

// Dir returns the directory the database lives in ("" when InMemory).
func (db *DB) Dir() string { return db.dir }

// Durability returns the database's durability mode.
func (db *DB) Durability() Durability { return db.opts.Durability }

// Open opens the database in dir, creating it (and dir) if it does not
// exist, and recovers it: the MANIFEST's snapshot is loaded, the log
// replayed, a torn tail truncated. Damage that is not a torn tail is refused
// with a *CorruptionError (or, with RecoverPointInTime, set aside). A nil
// opts means the defaults. With InMemory, dir is not touched.
func Open(dir string, opts *Options) (*DB, error) {
	o, err := opts.prepare()
	if err != nil {
		return nil, err
	}
	db := &DB{dir: dir, opts: o, store: state.New()}
	db.view.db = db
	if o.Durability == InMemory {
		db.dir = ""
		return db, nil
	}
	if dir == "" {
		return nil, invalidf("empty directory")
	}
	if err := db.openDisk(); err != nil {
		return nil, err
	}
	if o.Durability == Buffered && !o.ReadOnly {
		db.stopSync, db.syncDone = make(chan struct{}), make(chan struct{})
		go db.syncLoop()
	}
	return db, nil
}

// publish makes versions up to v visible to readers. Called by the log in
// version order.
func (db *DB) publish(v uint64) {
	for {
		cur := db.visible.Load()
		if v <= cur || db.visible.CompareAndSwap(cur, v) {
			break
		}
	}
	db.updateFloor()
}

// updateFloor tells the store the lowest version a reader may need.
func (db *DB) updateFloor() {
	floor := db.visible.Load()
	if p := db.pin.Load(); p != 0 && p < floor {
		floor = p
	}
	db.store.SetFloor(floor)
}

// fail puts the database in the failed state with err, once.
func (db *DB) fail(err error) error {
	wrapped := fmt.Errorf("%w: %w", ErrFailed, err)
	if db.failed.CompareAndSwap(nil, &wrapped) {
		db.opts.Logger.Error("in-mem database failed; writes are refused until it is reopened", "dir", db.dir, "err", err)
	}
	return *db.failed.Load()
}

// Err returns the error that put the database in the failed state, or nil.
func (db *DB) Err() error {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// writable returns why the database cannot take a write, or nil.
func (db *DB) writable() error {
	switch {
	case db.closed.Load():
		return ErrClosed
	case db.opts.ReadOnly:
		return ErrReadOnly
	}
	return db.Err()
}

func (db *DB) readable() error {
	if db.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (db *DB) syncLoop() {
	defer close(db.syncDone)
	t := time.NewTicker(db.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stopSync:
			return
		case <-t.C:
			if db.Err() != nil {
				continue
			}
			if err := db.log.Sync(); err != nil {
				db.fail(err)
			}
		}
	}
}

// Flush makes every acknowledged commit durable: in Buffered mode it syncs
// the log now. In Strict mode commits are durable already; in InMemory mode
// there is nothing to do.
func (db *DB) Flush() error {
	if err := db.writable(); err != nil {
		return err
	}
	if db.log == nil {
		return nil
	}
	if err := db.log.Sync(); err != nil {
		return db.fail(err)
	}
	return nil
}

// Close syncs the log, closes the files and releases the lock. Every later
// call returns ErrClosed. If the database had failed, Close releases it and
// returns the failure.
func (db *DB) Close() error {
	db.maintMu.Lock()
	defer db.maintMu.Unlock()
	db.commitMu.Lock()
	if !db.closed.CompareAndSwap(false, true) {
		db.commitMu.Unlock()
		return ErrClosed
	}
	db.commitMu.Unlock()
	if db.stopSync != nil {
		close(db.stopSync)
		<-db.syncDone
	}
	var err error
	if db.log != nil {
		err = db.closeLog()
	}
	if db.lock != nil {
		if lerr := db.lock.Close(); err == nil {
			err = lerr
		}
	}
	return err
}

// closeLog syncs and closes the log and, if that went well, records its
// exact end in the MANIFEST: a clean close leaves nothing unaccounted for.
func (db *DB) closeLog() error {
	if err := db.log.Close(); err != nil {
		return db.fail(err)
	}
	if err := db.Err(); err != nil {
		return err
	}
	if _, err := db.recordLogEnd(crashpoint.DuringLogEndUpdate, db.log.Durable()); err != nil {
		return db.fail(err)
	}
	return nil
}

func newUUID() ([16]byte, error) {
	var id [16]byte
	_, err := rand.Read(id[:])
	return id, err
}

// nowMicros returns the commit time for a new commit: never below the last
// one, so timestamps follow versions.
func (db *DB) nowMicros() int64 {
	ts := max(time.Now().UnixMicro(), db.lastTS)
	db.lastTS = ts
	return ts
}
