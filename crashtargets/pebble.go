package crashtargets

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/in-mem/inmem/crashtest"
)

// pebbleTargets are Pebble's configurations: every write with pebble.Sync,
// or with pebble.NoSync. NB: with NoSync, Pebble acknowledges a write once
// it is in its WAL writer's buffer, which a goroutine writes to the file
// soon after: a process kill can lose it. The configuration declares
// itself neither power nor process safe.
func pebbleTargets() []crashtest.TargetConfig {
	return []crashtest.TargetConfig{
		{Name: "pebble", Caps: caps(true), About: "Pebble v2, every write with pebble.Sync",
			Open: func(dir string) (crashtest.Target, error) { return openPebble(dir, pebble.Sync) }},
		{Name: "pebble-nosync", Caps: crashtest.Caps{AtomicBatch: true, Reopen: true},
			About: "Pebble v2, writes with pebble.NoSync (not even process safe: the WAL is written behind the acknowledgement)",
			Open:  func(dir string) (crashtest.Target, error) { return openPebble(dir, pebble.NoSync) }},
	}
}

type pebbleTarget struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

// openPebble opens the store in dir with a small memtable, so that a short
// workload flushes it, rotates the WAL and compacts.
func openPebble(dir string, wo *pebble.WriteOptions) (crashtest.Target, error) {
	db, err := pebble.Open(dir, &pebble.Options{MemTableSize: 256 << 10, Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}
	return &pebbleTarget{db: db, wo: wo}, nil
}

func (t *pebbleTarget) Put(key, value []byte) error { return t.db.Set(key, value, t.wo) }
func (t *pebbleTarget) Delete(key []byte) error     { return t.db.Delete(key, t.wo) }

func (t *pebbleTarget) Batch(ops []crashtest.BatchOp) error {
	b := t.db.NewBatch()
	for _, op := range ops {
		var err error
		if op.Delete {
			err = b.Delete(op.Key, nil)
		} else {
			err = b.Set(op.Key, op.Value, nil)
		}
		if err != nil {
			return errors.Join(err, b.Close())
		}
	}
	return b.Commit(t.wo)
}

func (t *pebbleTarget) Get(key []byte) ([]byte, bool, error) {
	v, closer, err := t.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte{}, v...) // valid only until closer.Close
	return out, true, closer.Close()
}

// Sync syncs the WAL: an empty LogData record written with pebble.Sync.
func (t *pebbleTarget) Sync() error  { return t.db.LogData(nil, pebble.Sync) }
func (t *pebbleTarget) Close() error { return t.db.Close() }

// quietLogger keeps Pebble's informational logging off the target's
// stderr; fatal errors still end the process, as in Pebble's own logger.
type quietLogger struct{}

func (quietLogger) Infof(format string, args ...any)  {}
func (quietLogger) Errorf(format string, args ...any) {}
func (quietLogger) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
