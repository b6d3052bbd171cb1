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

// Get passes the key without copying it (KVGet does not keep it), as a
// caller holding []byte keys would.
func (s *inmemStore) Get(k, dst []byte) ([]byte, error) {
	e, err := s.db.KVGet(s.run, unsafe.String(unsafe.SliceData(k), len(k)))
	if err != nil {
		return dst, err
	}
	return append(dst, e.Value...), nil
}

func (s *inmemStore) Close() error { return s.db.Close() }

// Checkpoint writes in-mem's own snapshot inside the database directory
// (SNAPSHOTS/), so dst is not used.
func (s *inmemStore) Checkpoint(string) error {
	_, err := s.db.Checkpoint()
	return err
}
