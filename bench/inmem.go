package main

import (
	"unsafe"

	"github.com/in-mem/inmem"
)

var inmemEngine = &Engine{
	Name:         "in-mem",
	DurableMode:  "Strict",
	BufferedMode: "Buffered",
	CheckpointOp: "DB.Checkpoint (full snapshot file, fsynced, MANIFEST updated)",
	Open:         openInmem,
}

type inmemStore struct {
	db  *inmem.DB
	run inmem.RunID
}

func openInmem(dir string, o OpenOptions) (Store, error) {
	d := inmem.Strict
	if o.Mode == Buffered {
		d = inmem.Buffered
	}
	db, err := inmem.Open(dir, &inmem.Options{Durability: d})
	if err != nil {
		return nil, err
	}
	run, err := db.GetOrCreateRun("bench")
	if err != nil {
		db.Close()
		return nil, err
	}
	return &inmemStore{db: db, run: run}, nil
}

func (s *inmemStore) Put(k, v []byte) error {
	_, err := s.db.KVPut(s.run, string(k), v)
	return err
}

// Get passes the key without copying it (no read keeps it), as a caller
// holding []byte keys would, and reads the value borrowed (DB.View), copying
// it once, into dst, as every engine's Get does.
func (s *inmemStore) Get(k, dst []byte) ([]byte, error) {
	key := unsafe.String(unsafe.SliceData(k), len(k))
	err := s.db.View(func(v *inmem.View) error {
		val, _, err := v.KVGet(s.run, key)
		dst = append(dst, val...)
		return err
	})
	return dst, err
}

func (s *inmemStore) Close() error { return s.db.Close() }

// Checkpoint writes in-mem's own snapshot inside the database directory
// (SNAPSHOTS/), so dst is not used.
func (s *inmemStore) Checkpoint(string) error {
	_, err := s.db.Checkpoint()
	return err
}
