package main

import (
	"os"

	badger "github.com/dgraph-io/badger/v4"
)

var badgerEngine = &Engine{
	Name:         "badger",
	Peer:         true,
	DurableMode:  "SyncWrites=true",
	BufferedMode: "SyncWrites=false",
	CheckpointOp: "DB.Backup to a file (full logical dump), then fsync",
	Open:         openBadger,
}

type badgerStore struct{ db *badger.DB }

func openBadger(dir string, o OpenOptions) (Store, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(o.Mode == Durable).
		WithBlockCacheSize(cacheBytes).
		WithLogger(nil)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, err
	}
	return &badgerStore{db: db}, nil
}

func (s *badgerStore) Put(k, v []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

func (s *badgerStore) Get(k, dst []byte) ([]byte, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(k)
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			dst = append(dst, v...)
			return nil
		})
	})
	return dst, err
}

func (s *badgerStore) Close() error { return s.db.Close() }

func (s *badgerStore) Checkpoint(dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := s.db.Backup(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
