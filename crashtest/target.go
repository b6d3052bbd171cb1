package crashtest

import (
	"errors"

	"github.com/in-mem/inmem"
)

// Target is a key/value store the crash testers can drive instead of an
// in-mem database: the process tester kills its child, the ext4 power cut
// pulls the plug under it, the barrier explorer rebuilds the disk states its
// writes can leave. Adapters for other engines (bbolt, SQLite) live in a
// module of their own (crashtargets), so this module never depends on them.
type Target interface {
	// Put stores value under key and returns once the configuration
	// considers it committed: an acknowledgement.
	Put(key, value []byte) error
	// Get returns the value of key; found is false if there is none.
	Get(key []byte) (value []byte, found bool, err error)
	// Sync makes every acknowledged put durable, as far as the configuration
	// syncs at all.
	Sync() error
	// Close releases the store.
	Close() error
}

// TargetConfig is one configuration of an engine: how to open it, and
// whether it promises that an acknowledged put survives a power loss.
type TargetConfig struct {
	// Name is how `inmem crash --target` and the target child name it
	// ("bbolt", "bbolt-nosync", ...).
	Name string
	// PowerSafe: every acknowledged Put survives a power loss (bbolt's
	// default, SQLite's synchronous=FULL). Unsafe configurations (NoSync,
	// synchronous=OFF) promise only to survive a process kill; their losses
	// under a power loss are reported, not judged as violations.
	PowerSafe bool
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
	return []TargetConfig{
		{Name: "inmem", PowerSafe: true, About: "in-mem, Strict durability",
			Open: func(dir string) (Target, error) { return OpenInmemTarget(dir, inmem.Strict) }},
		{Name: "inmem-buffered", About: "in-mem, Buffered durability",
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
