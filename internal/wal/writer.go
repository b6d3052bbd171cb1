package wal

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
)

// ErrClosed is returned by a Writer after Close.
var ErrClosed = errors.New("inmem/wal: log is closed")

// WriterOptions configure a Writer.
type WriterOptions struct {
	FS          vfs.FS
	Dir         string // the WAL directory
	UUID        [16]byte
	SegmentSize int64
	CrashPoints *crashpoint.Set
	// Publish is called, in txn order and with the writer's lock held, with
	// the highest txn that may now be acknowledged: synced if
	// SyncEachCommit, written otherwise. It must not call the Writer.
	Publish func(txn uint64)
	// SyncEachCommit makes Wait return only once the record is synced
	// (Strict); otherwise once it is written to the OS (Buffered).
	SyncEachCommit bool
	// Rotated, if set, is called at each rotation once the new segment and
	// its directory entry are durable, before any record goes into it, with
	// the new segment's start: the engine records it as the durable end of
	// the log, so that losing the segment is noticed. An error fails the
	// log. It must not call the Writer.
	Rotated func(start Position) error
	// PrepareAhead makes the writer write each segment ahead of the log
	// with zeros, a chunk at a time, off the commit path (see
	// maybePrepareLocked), where the file takes writes at an offset.
	PrepareAhead bool
	// PrepareInline makes the committer that crosses the threshold write
	// the zeros itself instead of a goroutine, so that the file operations
	// come in an order the workload alone decides: crash tests that rebuild
	// a crash state from its operation number rely on it.
	PrepareInline bool
}

// Writer appends records to the active segment with group commit: Append
// queues an encoded record in memory, and the first committer to Wait
// becomes the leader that writes (and, in Strict mode, syncs) everything
// queued in one system call, while the others wait for it. Any write or sync
// error is sticky: the log stops, and every later call returns it.
type Writer struct {
	opts WriterOptions

	mu   sync.Mutex
	cond sync.Cond
	// Guarded by mu.
	buf        []byte // records appended and not yet written
	spare      []byte
	bufLastTxn uint64
	appended   uint64 // highest txn appended
	written    uint64 // highest txn written to the OS
	synced     uint64 // highest txn synced
	flushing   bool   // a leader is writing or syncing outside mu
	// preparing says zeros are being written ahead of the log, from
	// prepFrom on: no leader writes past prepFrom until they are.
	preparing bool
	prepFrom  int64
	err       error
	closing   bool // Close has begun: nothing more is prepared
	closed    bool
	seg       segment
}

type segment struct {
	num       uint64
	f         vfs.File
	reserved  int64 // end of the log plus queued bytes
	written   int64 // end of the log: bytes of records written
	syncedOff int64 // bytes known durable
	// prepared is how far the file is known to extend (written ahead with
	// zeros, or with an earlier life's bytes): records written below it
	// overwrite blocks in place, and a sync of them commits no metadata.
	prepared int64
	// at says the file takes writes at an offset (vfs.WriterAt); without
	// that the log appends and nothing is prepared.
	at bool
	// maps are prepared ranges mapped into memory (Buffered, where the file
	// is a vfs.Mapper): a batch inside one is copied there, no system call.
	maps []segMap
}

// NewWriter makes a Writer appending to segment num, already open as f for
// writing, whose log ends at offset end, synced up to there. The file may
// extend past end (its rest written ahead, see the package doc): records
// overwrite it. lastTxn is the txn id of the last record in the log.
func NewWriter(opts WriterOptions, num uint64, f vfs.File, end int64, lastTxn uint64) *Writer {
	w := &Writer{opts: opts}
	w.cond.L = &w.mu
	w.seg = newSegment(num, f, end, sizeOr(opts.FS, w.Path(num), end))
	w.appended, w.written, w.synced = lastTxn, lastTxn, lastTxn
	w.mu.Lock()
	w.maybePrepareLocked()
	w.mu.Unlock()
	return w
}

func newSegment(num uint64, f vfs.File, end, size int64) segment {
	_, at := f.(vfs.WriterAt)
	return segment{num: num, f: f, reserved: end, written: end, syncedOff: end, prepared: max(size, end), at: at}
}

// sizeOr returns the size of the file at path, or def if it cannot be
// told: zeros written from there on only replace bytes past the log.
func sizeOr(fsys vfs.FS, path string, def int64) int64 {
	fi, err := fsys.Stat(path)
	if err != nil {
		return def
	}
	return fi.Size()
}

// Segment returns the active segment's number.
func (w *Writer) Segment() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seg.num
}

// Durable returns how far the log is known durable: the active segment,
// the offset it is synced to, and the txn of the last record before that.
func (w *Writer) Durable() Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Position{Segment: w.seg.num, Offset: w.seg.syncedOff, Txn: w.synced}
}

// Err returns the sticky error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Append queues the record for txn. Callers serialize Append and call it in
// txn order. It rotates to a new segment first if the record would not fit.
func (w *Writer) Append(txn uint64, ts int64, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	size := int64(RecordOverhead + len(payload))
	if w.seg.reserved+size > w.opts.SegmentSize && w.seg.reserved > HeaderSize {
		if err := w.rotateLocked(); err != nil {
			return err
		}
	}
	w.buf = AppendRecord(w.buf, w.seg.num, txn, ts, w.seg.syncedOff, payload)
	w.bufLastTxn, w.appended = txn, txn
	w.seg.reserved += size
	return nil
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	return nil
}

// Wait returns once txn may be acknowledged: synced if SyncEachCommit,
// written otherwise.
func (w *Writer) Wait(txn uint64) error {
	return w.waitFor(txn, w.opts.SyncEachCommit)
}

// Sync writes everything queued and syncs it. After a failure it returns
// the sticky error, even if everything appended before it is durable: the
// log has stopped.
func (w *Writer) Sync() error {
	w.mu.Lock()
	txn, err := w.appended, w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.waitFor(txn, true)
}

func (w *Writer) waitFor(txn uint64, durable bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		done := w.written >= txn
		if durable {
			done = w.synced >= txn
		}
		if done {
			return nil
		}
		if w.err != nil {
			return w.err
		}
		if w.flushing {
			w.cond.Wait()
			continue
		}
		w.lead(durable)
	}
}

// lead writes the queue and, if durable, syncs, with mu released around the
// I/O. Called with mu held and no leader active.
func (w *Writer) lead(durable bool) {
	w.flushing = true
	batch, lastTxn := w.buf, w.bufLastTxn
	w.buf = w.spare[:0]
	for w.preparing && w.seg.written+int64(len(batch)) > w.prepFrom {
		w.cond.Wait() // NB: never write where zeros are being written
	}
	seg := w.seg
	wantSync := durable || w.opts.SyncEachCommit
	w.mu.Unlock()

	err := w.writeAndSync(seg, batch, wantSync)

	w.mu.Lock()
	w.spare = batch[:0]
	w.flushing = false
	w.cond.Broadcast()
	if err != nil {
		w.fail(err)
		return
	}
	if len(batch) > 0 {
		w.written = lastTxn
		w.seg.written += int64(len(batch))
		w.seg.prepared = max(w.seg.prepared, w.seg.written)
	}
	if wantSync {
		w.synced = w.written
		w.seg.syncedOff = w.seg.written
	}
	publish := w.written
	if w.opts.SyncEachCommit {
		publish = w.synced
	}
	if w.opts.Publish != nil {
		w.opts.Publish(publish)
	}
	w.maybePrepareLocked() // NB: after Publish, which an inline preparation would let another leader overtake
}

// writeAndSync writes batch at the end of the log of seg (in place, where
// the file takes writes at an offset) and syncs if asked.
func (w *Writer) writeAndSync(seg segment, batch []byte, sync bool) error {
	cp := w.opts.CrashPoints
	if len(batch) > 0 {
		cp.Hit(crashpoint.BeforeWALWrite)
		var err error
		switch {
		case seg.copyMapped(batch):
		case seg.at:
			_, err = vfs.WriteAt(seg.f, batch, seg.written)
		default:
			_, err = seg.f.Write(batch)
		}
		if err != nil {
			return fmt.Errorf("inmem/wal: write %s: %w", SegmentName(seg.num), err)
		}
		cp.Hit(crashpoint.AfterWALWriteBeforeFsync)
	}
	if sync {
		if err := seg.f.Sync(); err != nil {
			return fmt.Errorf("inmem/wal: sync %s: %w", SegmentName(seg.num), err)
		}
		cp.Hit(crashpoint.AfterFsync)
	}
	return nil
}

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
	w.cond.Broadcast()
}

// rotateLocked makes everything queued durable in the current segment, then
// starts the next one. Called with mu held by the single appender.
func (w *Writer) rotateLocked() error {
	for w.flushing || w.preparing {
		w.cond.Wait()
	}
	if err := w.usable(); err != nil {
		return err
	}
	if w.synced < w.appended || w.seg.syncedOff < w.seg.written {
		w.lead(true)
		if w.err != nil {
			return w.err
		}
	}
	// The old segment is now fully durable; records in the new one may be
	// acknowledged only after it and its directory entry are durable too.
	w.flushing = true
	w.mu.Unlock()
	next, synced := w.seg.num+1, w.synced
	f, err := w.startSegment(Position{Segment: next, Offset: HeaderSize, Txn: synced})
	w.mu.Lock()
	w.flushing = false
	w.cond.Broadcast()
	if err != nil {
		w.fail(fmt.Errorf("inmem/wal: rotate to %s: %w", SegmentName(next), err))
		return w.err
	}
	w.seg.unmap()
	w.seg = newSegment(next, f, HeaderSize, HeaderSize)
	w.maybePrepareLocked()
	return nil
}

// startSegment creates segment start.Segment, tells Rotated, and closes the
// old segment. Called by the rotating appender with mu released.
func (w *Writer) startSegment(start Position) (vfs.File, error) {
	f, err := CreateSegment(w.opts.FS, w.opts.Dir, start.Segment, w.opts.UUID, w.opts.CrashPoints)
	if err != nil {
		return nil, err
	}
	if w.opts.Rotated != nil {
		err = w.opts.Rotated(start)
	}
	if err == nil {
		err = w.seg.f.Close()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close syncs everything queued and closes the active segment. After Close
// every call returns ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closing = true // no new preparation
	w.mu.Unlock()
	var err error
	if !closeSkipsSync {
		err = w.Sync()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.flushing || w.preparing {
		w.cond.Wait()
	}
	if w.closed {
		return ErrClosed
	}
	if err == nil {
		err = w.err // NB: a preparation that failed after the Sync above
	}
	w.closed = true
	w.seg.unmap()
	if cerr := w.seg.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path returns the path of segment num in the writer's directory.
func (w *Writer) Path(num uint64) string { return filepath.Join(w.opts.Dir, SegmentName(num)) }
