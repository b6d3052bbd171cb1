package wal

import (
	"fmt"
	"os"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
)

// MaxPrepareChunk bounds how far ahead of the log a segment is written with
// zeros at a time.
const MaxPrepareChunk = 4 << 20

// zeroBlock is what the preparer writes, a piece at a time.
var zeroBlock [64 << 10]byte

// prepareChunk is how much of a segment of size segSize is prepared at a
// time.
func prepareChunk(segSize int64) int64 { return min(segSize, MaxPrepareChunk) }

// prepareSlack is how far past the end of the log (queued records
// included) a preparation starts: the log keeps growing into those bytes
// (appending, as without preparation) while the zeros are written, instead
// of waiting for them. NB: without it the first commits of a new segment
// waited for a whole chunk's write and sync.
func prepareSlack(chunk int64) int64 { return min(chunk/8, 256<<10) }

// maybePrepareLocked starts writing zeros ahead of the log, off the commit
// path, once the log (queued records included) comes within half a chunk
// of the prepared end of the active segment: records then overwrite blocks
// that exist, and a commit's fdatasync has no size or extent change to
// journal. With PrepareInline the caller writes them, mu released around
// the I/O. Called with mu held.
func (w *Writer) maybePrepareLocked() {
	s, size := &w.seg, w.opts.SegmentSize
	if !w.opts.PrepareAhead || w.preparing || !s.at || w.err != nil || w.closing || w.closed || s.prepared >= size {
		return
	}
	chunk := prepareChunk(size)
	if s.reserved+chunk/2 < s.prepared {
		return
	}
	from := max(s.prepared, s.reserved+prepareSlack(chunk))
	to := min(size, from+chunk)
	if from >= to {
		return
	}
	w.preparing, w.prepFrom = true, from
	if !w.opts.PrepareInline {
		go w.prepare(*s, from, to)
		return
	}
	seg := *s
	w.mu.Unlock()
	w.prepare(seg, from, to)
	w.mu.Lock()
}

// prepare writes zeros over [from, to) of seg's file and syncs it. Leaders
// write nothing past from meanwhile. An error stops the log: a failed sync
// leaves the file's durable content unknown, records before from included.
func (w *Writer) prepare(seg segment, from, to int64) {
	err := writeZeros(seg.f, from, to)
	w.opts.CrashPoints.Hit(crashpoint.DuringSegmentPrepare)
	if err == nil {
		err = seg.f.Sync()
	}
	var m segMap
	if err == nil && !w.opts.SyncEachCommit {
		m = mapPrepared(seg.f, from, to)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.preparing = false
	w.cond.Broadcast()
	if err != nil {
		m.close()
		w.fail(fmt.Errorf("inmem/wal: prepare %s: %w", SegmentName(seg.num), err))
		return
	}
	if w.seg.num != seg.num || w.closed {
		m.close()
		return
	}
	w.seg.prepared = max(w.seg.prepared, to)
	if m.m != nil {
		w.seg.maps = append(w.seg.maps, m)
	}
}

// segMap is a range of a segment mapped into memory, from off.
type segMap struct {
	off int64
	m   vfs.Mapping
}

func (m segMap) close() {
	if m.m != nil {
		m.m.Close()
	}
}

// mapPrepared maps the prepared range [from, to) of f, from the page it
// starts in, if f is a vfs.Mapper (else, or on failure, nothing: the
// writer writes with a system call). Buffered mode only: a commit is then
// a copy into the page cache, which survives the process as a write(2)
// does; a Strict commit's fdatasync would also have to write-protect the
// pages again, and gains nothing from it.
func mapPrepared(f vfs.File, from, to int64) segMap {
	mp, ok := f.(vfs.Mapper)
	if !ok {
		return segMap{}
	}
	page := int64(os.Getpagesize())
	start := from / page * page
	m, err := mp.Map(start, to-start)
	if err != nil {
		return segMap{}
	}
	return segMap{off: start, m: m}
}

// copyMapped copies batch to the end of the log of s through a mapping
// that holds all of it, and reports whether one did.
func (s segment) copyMapped(batch []byte) bool {
	for _, m := range s.maps {
		b := m.m.Bytes()
		if s.written >= m.off && s.written+int64(len(batch)) <= m.off+int64(len(b)) {
			copy(b[s.written-m.off:], batch)
			return true
		}
	}
	return false
}

// unmap unmaps every mapping of s. Called with no batch being written.
func (s *segment) unmap() {
	for _, m := range s.maps {
		m.close()
	}
	s.maps = nil
}

// writeZeros writes zeros over [from, to) of f.
func writeZeros(f vfs.File, from, to int64) error {
	for off := from; off < to; {
		n := min(to-off, int64(len(zeroBlock)))
		if _, err := vfs.WriteAt(f, zeroBlock[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
