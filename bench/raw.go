package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// The raw baselines are the smallest engine that keeps the same promise as
// in-mem: an append-only log of CRC-checked records plus a Go map, no
// versions, no segments, no MANIFEST. Their durable puts are the physical
// limit of this disk for a log-structured store.
var (
	rawEngine = &Engine{
		Name:         "raw",
		DurableMode:  "write + fdatasync per put, one at a time (the fdatasync loop)",
		BufferedMode: "write per put, no sync",
		CheckpointOp: "write the map to a file, then fdatasync",
		Open:         func(dir string, o OpenOptions) (Store, error) { return openRaw(dir, o, false) },
	}
	rawGroupEngine = &Engine{
		Name:        "raw-gc",
		DurableMode: "group commit: concurrent puts share one write + fdatasync",
		Only:        []string{wDurable16},
		Open:        func(dir string, o OpenOptions) (Store, error) { return openRaw(dir, o, true) },
	}
	// rawOverwriteEngine is the physical limit of durable-1 on this disk: a
	// file written with zeros and synced at open, then each put overwrites
	// the next bytes in place + fdatasync, with no size or extent change
	// for the fdatasync to journal.
	rawOverwriteEngine = &Engine{
		Name:        "raw-ow",
		DurableMode: "pwrite over a file written ahead with zeros + fdatasync per put, one at a time",
		Only:        []string{wDurable1},
		Open:        openRawOverwrite,
	}
)

// rawPrealloc is how much of its file raw-ow writes with zeros at open;
// puts past it append.
const rawPrealloc = 64 << 20

const rawRecordSize = 4 + keySize + valueSize

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type rawStore struct {
	f     *os.File
	sync  bool
	group bool
	// ow: puts overwrite the file at off (raw-ow) instead of appending.
	ow  bool
	off int64

	mu  sync.Mutex // serializes the loop's write + sync
	buf []byte

	gmu      sync.Mutex // group commit state
	cond     sync.Cond
	pending  []byte
	spare    []byte
	appended uint64
	synced   uint64
	flushing bool
	err      error

	idxMu sync.RWMutex
	idx   map[string][]byte
}

func openRaw(dir string, o OpenOptions, group bool) (Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "raw.log")
	idx, err := replayRaw(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syncPath(dir); err != nil {
		f.Close()
		return nil, err
	}
	s := &rawStore{f: f, sync: o.Mode == Durable, group: group, idx: idx}
	s.cond.L = &s.gmu
	return s, nil
}

// openRawOverwrite opens raw-ow: a new file, written with zeros and synced
// (file and directory) before the first put.
func openRawOverwrite(dir string, o OpenOptions) (Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "raw-ow.log"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < rawPrealloc && err == nil; off += int64(len(zeros)) {
		_, err = f.WriteAt(zeros, off)
	}
	if err == nil {
		err = fdatasync(f)
	}
	if err == nil {
		err = syncPath(dir)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &rawStore{f: f, sync: o.Mode == Durable, ow: true, idx: map[string][]byte{}}
	s.cond.L = &s.gmu
	return s, nil
}

// replayRaw rebuilds the map from the log.
func replayRaw(path string) (map[string][]byte, error) {
	idx := map[string][]byte{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	for off := 0; off+rawRecordSize <= len(data); off += rawRecordSize {
		rec := data[off : off+rawRecordSize]
		if crc32.Checksum(rec[4:], castagnoli) != binary.LittleEndian.Uint32(rec) {
			return nil, fmt.Errorf("raw: bad record at offset %d", off)
		}
		idx[string(rec[4:4+keySize])] = rec[4+keySize:]
	}
	return idx, nil
}

func appendRawRecord(dst, k, v []byte) []byte {
	n := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, k...)
	dst = append(dst, v...)
	binary.LittleEndian.PutUint32(dst[n:], crc32.Checksum(dst[n+4:], castagnoli))
	return dst
}

func (s *rawStore) Put(k, v []byte) error {
	if len(k) != keySize || len(v) != valueSize {
		return fmt.Errorf("raw: key and value must be %d and %d bytes", keySize, valueSize)
	}
	var err error
	if s.group && s.sync {
		err = s.groupPut(k, v)
	} else {
		err = s.loopPut(k, v)
	}
	if err != nil {
		return err
	}
	s.idxMu.Lock()
	s.idx[string(k)] = append([]byte(nil), v...)
	s.idxMu.Unlock()
	return nil
}

func (s *rawStore) loopPut(k, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = appendRawRecord(s.buf[:0], k, v)
	var err error
	if s.ow {
		_, err = s.f.WriteAt(s.buf, s.off)
		s.off += int64(len(s.buf))
	} else {
		_, err = s.f.Write(s.buf)
	}
	if err != nil {
		return err
	}
	if s.sync {
		return fdatasync(s.f)
	}
	return nil
}

// groupPut queues the record; the first waiter with no leader active writes
// and syncs everything queued, the others wait for it.
func (s *rawStore) groupPut(k, v []byte) error {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	s.pending = appendRawRecord(s.pending, k, v)
	s.appended++
	seq := s.appended
	for s.synced < seq {
		if s.err != nil {
			return s.err
		}
		if s.flushing {
			s.cond.Wait()
			continue
		}
		s.flushing = true
		batch, last := s.pending, s.appended
		s.pending = s.spare[:0]
		s.gmu.Unlock()
		_, err := s.f.Write(batch)
		if err == nil {
			err = fdatasync(s.f)
		}
		s.gmu.Lock()
		s.spare = batch[:0]
		s.flushing = false
		s.cond.Broadcast()
		if err != nil {
			s.err = err
			return err
		}
		s.synced = last
	}
	return nil
}

func (s *rawStore) Get(k, dst []byte) ([]byte, error) {
	s.idxMu.RLock()
	v, ok := s.idx[string(k)]
	s.idxMu.RUnlock()
	if !ok {
		return dst, errNotFound
	}
	return append(dst, v...), nil
}

func (s *rawStore) Close() error {
	err := fdatasync(s.f)
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *rawStore) Checkpoint(dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	err = s.writeSnapshot(f)
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *rawStore) writeSnapshot(w io.Writer) error {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	buf := make([]byte, 0, 1<<20)
	for k, v := range s.idx {
		buf = appendRawRecord(buf, []byte(k), v)
		if len(buf) >= 1<<20-rawRecordSize {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// syncPath fsyncs a file or directory by path.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
