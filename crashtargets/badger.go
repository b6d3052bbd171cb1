package crashtargets

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/in-mem/inmem/crashtest"
)

// badgerTargets are Badger's configurations: SyncWrites true or false.
func badgerTargets() []crashtest.TargetConfig {
	return []crashtest.TargetConfig{
		{Name: "badger", Caps: caps(true), About: "Badger v4, SyncWrites: true",
			Open: func(dir string) (crashtest.Target, error) { return openBadger(dir, true) }},
		{Name: "badger-nosync", Caps: caps(false), About: "Badger v4, SyncWrites: false",
			Open: func(dir string) (crashtest.Target, error) { return openBadger(dir, false) }},
	}
}

type badgerTarget struct{ db *badger.DB }

// openBadger opens the store in dir. Its memtable and value log files are
// preallocated at their full size, 64 MiB and 1 GiB by default: 4 MiB each
// here, so that a store fits a small ext4 image and a short workload
// rotates them.
func openBadger(dir string, sync bool) (crashtest.Target, error) {
	opts := badger.DefaultOptions(dir).WithSyncWrites(sync).WithLogger(nil).
		WithMemTableSize(4 << 20).WithValueLogFileSize(4 << 20).WithValueThreshold(1 << 10).WithNumCompactors(2).WithBlockCacheSize(8 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("badger: %w", err)
	}
	return &badgerTarget{db: db}, nil
}

func (t *badgerTarget) Put(key, value []byte) error {
	return t.Batch([]crashtest.BatchOp{{Key: key, Value: value}})
}

func (t *badgerTarget) Delete(key []byte) error {
	return t.Batch([]crashtest.BatchOp{{Delete: true, Key: key}})
}

// Batch writes every op in one transaction: one commit.
func (t *badgerTarget) Batch(ops []crashtest.BatchOp) error {
	return t.db.Update(func(txn *badger.Txn) error {
		for _, op := range ops {
			var err error
			if op.Delete {
				err = txn.Delete(op.Key)
			} else {
				err = txn.Set(op.Key, op.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *badgerTarget) Get(key []byte) ([]byte, bool, error) {
	var v []byte
	err := t.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	return v, err == nil, err
}

func (t *badgerTarget) Sync() error  { return t.db.Sync() }
func (t *badgerTarget) Close() error { return t.db.Close() }
