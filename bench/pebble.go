package main

import (
	"github.com/cockroachdb/pebble/v2"
)

var pebbleEngine = &Engine{
	Name:         "pebble",
	Peer:         true,
	DurableMode:  "Set with pebble.Sync",
	BufferedMode: "Set with pebble.NoSync",
	CheckpointOp: "DB.Checkpoint(dir, WithFlushedWAL) (hard links + copied WAL)",
	Open:         openPebble,
}

// cacheBytes is the block/page cache given to every engine that has one,
// large enough to hold the 1,000,000-key data set.
const cacheBytes = 256 << 20

type pebbleStore struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

func openPebble(dir string, o OpenOptions) (Store, error) {
	c := pebble.NewCache(cacheBytes)
	defer c.Unref()
	db, err := pebble.Open(dir, &pebble.Options{Cache: c, Logger: quietLogger{}})
	if err != nil {
		return nil, err
	}
	wo := pebble.Sync
	if o.Mode == Buffered {
		wo = pebble.NoSync
	}
	return &pebbleStore{db: db, wo: wo}, nil
}

func (s *pebbleStore) Put(k, v []byte) error { return s.db.Set(k, v, s.wo) }

func (s *pebbleStore) Get(k, dst []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if err != nil {
		return dst, err
	}
	dst = append(dst, v...)
	return dst, closer.Close()
}

func (s *pebbleStore) Close() error { return s.db.Close() }

func (s *pebbleStore) Checkpoint(dst string) error {
	return s.db.Checkpoint(dst, pebble.WithFlushedWAL())
}
