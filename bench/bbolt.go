package main

import (
	"errors"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var bboltEngine = &Engine{
	Name:         "bbolt",
	Peer:         true,
	DurableMode:  "default (fdatasync per commit; DB.Batch when writers > 1)",
	BufferedMode: "NoSync",
	CheckpointOp: "Tx.WriteTo a file, then fsync",
	Open:         openBbolt,
}

var bboltBucket = []byte("bench")

type bboltStore struct {
	db    *bolt.DB
	batch bool
}

func openBbolt(dir string, o OpenOptions) (Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o644, nil)
	if err != nil {
		return nil, err
	}
	db.NoSync = o.Mode == Buffered
	if o.Writers > 1 {
		// Batch coalesces concurrent writers into one commit (one sync);
		// a batch as large as the writer count starts without waiting
		// for MaxBatchDelay.
		db.MaxBatchSize = o.Writers
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bboltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &bboltStore{db: db, batch: o.Writers > 1}, nil
}

func (s *bboltStore) Put(k, v []byte) error {
	fn := func(tx *bolt.Tx) error { return tx.Bucket(bboltBucket).Put(k, v) }
	if s.batch {
		return s.db.Batch(fn)
	}
	return s.db.Update(fn)
}

var errNotFound = errors.New("bench: key not found")

func (s *bboltStore) Get(k, dst []byte) ([]byte, error) {
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bboltBucket).Get(k)
		if v == nil {
			return errNotFound
		}
		dst = append(dst, v...)
		return nil
	})
	return dst, err
}

func (s *bboltStore) Close() error { return s.db.Close() }

func (s *bboltStore) Checkpoint(dst string) error {
	return s.db.View(func(tx *bolt.Tx) error {
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := tx.WriteTo(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}
