// Package leveldbtarget adapts goleveldb (github.com/syndtr/goleveldb) to
// crashtest.Target. It is a module of its own, requiring the oldest
// goleveldb it is built with, so that each module using it picks the
// goleveldb it tests: crashtargets the current one, goleveldb-buggy the
// version before PR #351 (a new MANIFEST is not synced before CURRENT
// names it, so a store reopened just before a power cut may not open
// again), goleveldb-fixed the version with it.
package leveldbtarget

import (
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/in-mem/inmem/crashtest"
)

// Targets returns goleveldb's two configurations, named name (every write
// synced) and name+"-nosync" (no write synced), described with about.
func Targets(name, about string) []crashtest.TargetConfig {
	caps := crashtest.Caps{PowerSafe: true, ProcessSafe: true, AtomicBatch: true, Reopen: true}
	unsafe := caps
	unsafe.PowerSafe = false
	return []crashtest.TargetConfig{
		{Name: name, Caps: caps, About: "goleveldb" + about + ", every write with WriteOptions.Sync",
			Open: func(dir string) (crashtest.Target, error) { return Open(dir, true) }},
		{Name: name + "-nosync", Caps: unsafe, About: "goleveldb" + about + ", writes without Sync",
			Open: func(dir string) (crashtest.Target, error) { return Open(dir, false) }},
	}
}

type target struct {
	db *leveldb.DB
	wo *opt.WriteOptions
}

// Open opens (or creates) the store in dir; sync says whether every write
// is synced. A store that does not open is an error: nothing is repaired.
func Open(dir string, sync bool) (crashtest.Target, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{WriteBuffer: 256 << 10})
	if err != nil {
		return nil, fmt.Errorf("goleveldb: %w", err)
	}
	return &target{db: db, wo: &opt.WriteOptions{Sync: sync}}, nil
}

func (t *target) Put(key, value []byte) error { return t.db.Put(key, value, t.wo) }
func (t *target) Delete(key []byte) error     { return t.db.Delete(key, t.wo) }

func (t *target) Batch(ops []crashtest.BatchOp) error {
	b := new(leveldb.Batch)
	for _, op := range ops {
		if op.Delete {
			b.Delete(op.Key)
		} else {
			b.Put(op.Key, op.Value)
		}
	}
	return t.db.Write(b, t.wo)
}

func (t *target) Get(key []byte) ([]byte, bool, error) {
	v, err := t.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, false, nil
	}
	return v, err == nil, err
}

// syncKey is where Sync writes: goleveldb has no call that only syncs, so
// a synced write of a key no workload reads syncs the journal.
var syncKey = []byte("\x00crashtest-sync")

func (t *target) Sync() error  { return t.db.Put(syncKey, nil, &opt.WriteOptions{Sync: true}) }
func (t *target) Close() error { return t.db.Close() }
