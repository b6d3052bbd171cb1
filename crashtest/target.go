package crashtest

import (
	"errors"

	"github.com/in-mem/inmem"
)

// Target is a key/value store the crash testers can drive instead of an
// in-mem database: the process tester kills it, the ext4 power cut pulls
// the plug under it, the barrier explorer rebuilds the disk states its
// writes can leave. A Target in Go is served to the testers by
// proc.TargetMain over the target protocol (docs/target-protocol.md in the
// repository), which an engine in any language can speak instead.
// Adapters for other engines (bbolt, SQLite, goleveldb, Pebble, Badger)
// live in a module of their own (crashtargets), so this module never
// depends on them.
//
// The testers never call two methods at once on one key, and call Close
// only when nothing else is under way; calls on different keys may come
// concurrently.
type Target interface {
	// Put stores value under key and returns once the configuration
	// considers it committed: an acknowledgement.
	Put(key, value []byte) error
	// Delete removes key (a missing key is no error) and returns once the
	// deletion is committed.
	Delete(key []byte) error
	// Batch applies every op as one write: all or nothing after any crash
	// if the configuration's Caps.AtomicBatch says so.
	Batch(ops []BatchOp) error
	// Get returns the value of key; found is false if there is none.
	Get(key []byte) (value []byte, found bool, err error)
	// Sync makes every acknowledged write durable, as far as the
	// configuration syncs at all.
	Sync() error
	// Close releases the store; the testers may open it again.
	Close() error
}

// BatchOp is one write of a Batch: a put, or a delete.
type BatchOp struct {
	Delete bool
	Key    []byte
	Value  []byte // nil for a delete
}

// Caps are what a target configuration promises, as its adapter declares
// them: the key/value model judges recovered stores by them.
type Caps struct {
	// PowerSafe: every acknowledged write survives a power loss (bbolt's
	// default, SQLite's synchronous=FULL); it implies ProcessSafe. A
	// configuration that is only process safe (bbolt's NoSync, SQLite's
	// synchronous=OFF) promises to survive a process kill; its losses under
	// a power loss are reported, not judged as violations.
	PowerSafe bool
	// ProcessSafe: every acknowledged write survives a process kill (it
	// reached the operating system before the acknowledgement). A
	// configuration that buffers acknowledged writes in the process
	// (Pebble's NoSync) promises nothing: its losses are reported under
	// every crash.
	ProcessSafe bool
	// AtomicBatch: a Batch is all or nothing after any crash. Without it,
	// a torn batch is reported, not judged.
	AtomicBatch bool
	// Reopen: the store can be closed and opened again in one process. The
	// testers reopen in a new process otherwise.
	Reopen bool
	// CreationSafe: a crash while the store is first created, before
	// anything was acknowledged, leaves a store that opens. Without it, a
	// store that does not open after such a crash is a finding of its own
	// class (ClassCreation), not a violation.
	CreationSafe bool
}

// TargetConfig is one configuration of an engine: how to open it, and
// what it promises.
type TargetConfig struct {
	// Name is how `inmem crash --target` and the target child name it
	// ("bbolt", "bbolt-nosync", ...).
	Name string
	Caps Caps
	// Open opens the store in dir, creating it if needed and recovering
	// whatever a crash left.
	Open func(dir string) (Target, error)
	// About says in a few words what the configuration is.
	About string
}

// InmemTargets returns in-mem as a Target: "inmem" (Strict, power safe) and
// "inmem-buffered" (Buffered: a power loss may lose what the last sync did
// not cover).
func InmemTargets() []TargetConfig {
	caps := Caps{PowerSafe: true, ProcessSafe: true, AtomicBatch: true, Reopen: true, CreationSafe: true}
	buffered := caps
	buffered.PowerSafe = false
	return []TargetConfig{
		{Name: "inmem", Caps: caps, About: "in-mem, Strict durability",
			Open: func(dir string) (Target, error) { return OpenInmemTarget(dir, inmem.Strict) }},
		{Name: "inmem-buffered", Caps: buffered, About: "in-mem, Buffered durability",
			Open: func(dir string) (Target, error) { return OpenInmemTarget(dir, inmem.Buffered) }},
	}
}

// inmemTarget is in-mem behind the Target interface: every pair lives in
// one run's KV primitive.
type inmemTarget struct {
	db  *inmem.DB
	run inmem.RunID
}

// targetRun is the run the in-mem Target keeps its pairs in.
const targetRun = "crashtest-kv"

// OpenInmemTarget opens the in-mem database in dir as a Target.
func OpenInmemTarget(dir string, d inmem.Durability) (Target, error) {
	db, err := inmem.Open(dir, &inmem.Options{Durability: d})
	if err != nil {
		return nil, err
	}
	var id inmem.RunID
	if _, err := db.Commit(func(tx *inmem.Tx) error {
		var err error
		id, err = tx.GetOrCreateRun(targetRun)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &inmemTarget{db: db, run: id}, nil
}

func (t *inmemTarget) Put(key, value []byte) error {
	_, err := t.db.Commit(func(tx *inmem.Tx) error { return tx.KVPut(t.run, string(key), value) })
	return err
}

func (t *inmemTarget) Delete(key []byte) error {
	return t.Batch([]BatchOp{{Delete: true, Key: key}})
}

// Batch commits every op in one transaction. NB: a delete of a missing key
// is no error for a Target, as in every other engine.
func (t *inmemTarget) Batch(ops []BatchOp) error {
	_, err := t.db.Commit(func(tx *inmem.Tx) error {
		for _, op := range ops {
			if !op.Delete {
				if err := tx.KVPut(t.run, string(op.Key), op.Value); err != nil {
					return err
				}
				continue
			}
			if err := tx.KVDelete(t.run, string(op.Key)); err != nil && !errors.Is(err, inmem.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	return err
}

func (t *inmemTarget) Get(key []byte) ([]byte, bool, error) {
	v, err := t.db.KVGet(t.run, string(key))
	if errors.Is(err, inmem.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v.Value, true, nil
}

func (t *inmemTarget) Sync() error  { return t.db.Flush() }
func (t *inmemTarget) Close() error { return t.db.Close() }
