package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// newPreparingEnv is newWriterEnv with PrepareAhead.
func newPreparingEnv(t *testing.T, segSize int64, syncEach bool, cps *crashpoint.Set) *writerEnv {
	t.Helper()
	return newPreparingEnvWith(t, nil, WriterOptions{SegmentSize: segSize, SyncEachCommit: syncEach, CrashPoints: cps})
}

// newPreparingEnvWith is newPreparingEnv on a filesystem wrapped with inj
// (if not nil), with o's segment size, sync, crash points and inline
// preparation.
func newPreparingEnvWith(t *testing.T, inj errorfs.Injector, o WriterOptions) *writerEnv {
	t.Helper()
	e := newWriterEnv(t, inj, o.SegmentSize, o.SyncEachCommit, nil)
	e.w.Close()
	af, err := e.fs.OpenAppend(segPath(1))
	if err != nil {
		t.Fatal(err)
	}
	o.FS, o.Dir, o.UUID, o.Publish, o.PrepareAhead = e.fs, testDir, testUUID, e.publish, true
	e.w = NewWriter(o, 1, af, HeaderSize, 0)
	return e
}

// waitPrepared waits until no preparation is under way.
func waitPrepared(w *Writer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.preparing {
		w.cond.Wait()
	}
}

// TestWriter_PrepareAhead: a new segment is written ahead with zeros, off
// the commit path, a chunk at a time as the log comes near its end, never
// past the segment size; records overwrite the zeros, and a scan reads
// every record and takes the zeros for the segment's rest.
func TestWriter_PrepareAhead(t *testing.T) {
	const segSize = 3 * 1024 * 1024 / 2 // a chunk (all of it, under 4 MiB)
	e := newPreparingEnv(t, segSize, true, nil)
	waitPrepared(e.w)
	if got := fileSize(t, e.mem, segPath(1)); got != segSize {
		t.Fatalf("segment 1 is %d bytes after creation, want %d prepared", got, segSize)
	}
	for txn := uint64(1); txn <= 50; txn++ {
		e.commit(t, txn)
	}
	if err := e.w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, e.mem, segPath(1)); got != segSize {
		t.Fatalf("segment 1 grew to %d bytes: records were appended past the prepared end", got)
	}
	recs := records(t, e.mem)
	res, _ := scanLog(t, e.mem, 1)
	if len(recs) != 50 || !res.Segments[0].Rest || res.Segments[0].ValidEnd != recOff(50) {
		t.Fatalf("%d records, segment %+v", len(recs), res.Segments[0])
	}
	if n := e.mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced}); len(records(t, n)) != 50 {
		t.Fatalf("a power loss after Close lost records")
	}
}

// TestWriter_PrepareAheadConcurrent: committers racing the preparer across
// many chunks and rotations: the zeros never land on a record (every record
// scans back), and each segment ends up prepared to its size.
func TestWriter_PrepareAheadConcurrent(t *testing.T) {
	const segSize = 64 << 10
	e := newPreparingEnv(t, segSize, false, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := uint64(1)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				mu.Lock()
				txn := next
				next++
				if err := e.w.Append(txn, int64(txn)*1000, testPayload(txn)); err != nil {
					mu.Unlock()
					t.Error(err)
					return
				}
				mu.Unlock()
				if err := e.w.Wait(txn); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := e.w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(records(t, e.mem)); got != 1200 {
		t.Fatalf("%d records scanned back, want 1200", got)
	}
	res, _ := scanLog(t, e.mem, 1)
	for _, s := range res.Segments[:len(res.Segments)-1] {
		if s.Size != segSize {
			t.Errorf("segment %d is %d bytes, want %d", s.Num, s.Size, segSize)
		}
	}
}

// TestWriter_PrepareInline: with PrepareInline no preparation is under way
// once a commit returns, and the file operations of a workload come in the
// same order every time (what a crash test that rebuilds a crash state from
// its operation number needs), across chunks and rotations.
func TestWriter_PrepareInline(t *testing.T) {
	run := func() []string {
		var mu sync.Mutex
		var ops []string
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			mu.Lock()
			ops = append(ops, op.String())
			mu.Unlock()
			return nil
		})
		e := newPreparingEnvWith(t, inj, WriterOptions{SegmentSize: 8 << 10, PrepareInline: true})
		for txn := uint64(1); txn <= 300; txn++ {
			e.commit(t, txn)
			if e.w.mu.Lock(); e.w.preparing {
				t.Fatalf("a preparation is under way after commit %d returned", txn)
			}
			e.w.mu.Unlock()
		}
		if err := e.w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := len(records(t, e.mem)); got != 300 {
			t.Fatalf("%d records scanned back, want 300", got)
		}
		mu.Lock()
		defer mu.Unlock()
		return ops
	}
	first, second := run(), run()
	if !slices.Equal(first, second) {
		t.Fatalf("the file operations differ between two runs: %d and %d operations", len(first), len(second))
	}
	if n := strings.Count(strings.Join(first, "\n"), "create"); n < 3 {
		t.Fatalf("%d creates in %d operations: the workload did not rotate", n, len(first))
	}
}

// TestWriter_PrepareCrashPoint: the preparation hits its crash point once
// per chunk, between its writes and its sync.
func TestWriter_PrepareCrashPoint(t *testing.T) {
	cps := crashpoint.New()
	cps.Count()
	e := newPreparingEnv(t, 8192, true, cps)
	waitPrepared(e.w)
	for txn := uint64(1); txn <= 60; txn++ {
		e.commit(t, txn)
	}
	waitPrepared(e.w)
	if err := e.w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := cps.Hits(crashpoint.DuringSegmentPrepare); n < 2 {
		t.Fatalf("DuringSegmentPrepare hit %d times over several segments", n)
	}
}

// TestWriter_MappedBuffered: on the real filesystem, a Buffered writer
// copies records into the prepared, memory-mapped part of the segment (no
// system call per commit), and they are in the file at once, before any
// sync, as a write(2) would leave them: what a killed process leaves.
func TestWriter_MappedBuffered(t *testing.T) {
	dir := t.TempDir()
	f, err := CreateSegment(vfs.OS, dir, 1, testUUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	af, err := vfs.OS.OpenAppend(filepath.Join(dir, SegmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(WriterOptions{FS: vfs.OS, Dir: dir, UUID: testUUID, SegmentSize: 1 << 20, PrepareAhead: true}, 1, af, HeaderSize, 0)
	defer w.Close()
	waitPrepared(w)
	for txn := uint64(1); txn <= 100; txn++ {
		if err := w.Append(txn, int64(txn), testPayload(txn)); err != nil {
			t.Fatal(err)
		}
		if err := w.Wait(txn); err != nil {
			t.Fatal(err)
		}
	}
	w.mu.Lock()
	mapped := len(w.seg.maps)
	w.mu.Unlock()
	if _, ok := af.(vfs.Mapper); ok && mapped == 0 {
		t.Fatalf("the prepared segment was not mapped")
	}
	data, err := os.ReadFile(filepath.Join(dir, SegmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	off, n := int64(HeaderSize), 0
	for ; ; n++ {
		r, size, err := DecodeRecord(data[off:], off, testMaxLen)
		if err != nil {
			break
		}
		if r.Txn != uint64(n+1) || !bytes.Equal(r.Payload, testPayload(r.Txn)) {
			t.Fatalf("record %d is txn %d", n, r.Txn)
		}
		off += int64(size)
	}
	if n != 100 {
		t.Fatalf("%d records in the file before any sync, want 100", n)
	}
}

// TestWriter_PrepareDoesNotBlockCommits: while the first chunk of a new
// segment is being prepared (its zeros held up here), commits go on: the
// preparation starts past the log's end (prepareSlack), not at it.
func TestWriter_PrepareDoesNotBlockCommits(t *testing.T) {
	const segSize = 1 << 20
	release := make(chan struct{})
	var once sync.Once
	hold := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpWrite && op.Offset >= HeaderSize+prepareSlack(prepareChunk(segSize)) {
			<-release // the zeros of the first chunk
		}
		return nil
	})
	e := newWriterEnv(t, hold, segSize, true, nil)
	e.w.Close()
	af, err := e.fs.OpenAppend(segPath(1))
	if err != nil {
		t.Fatal(err)
	}
	e.w = NewWriter(WriterOptions{FS: e.fs, Dir: testDir, UUID: testUUID, SegmentSize: segSize,
		Publish: e.publish, SyncEachCommit: true, PrepareAhead: true}, 1, af, HeaderSize, 0)
	defer func() {
		once.Do(func() { close(release) })
		e.w.Close()
	}()
	done := make(chan struct{})
	go func() {
		for txn := uint64(1); txn <= 5; txn++ {
			e.commit(t, txn)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("commits waited for the preparation of the segment's first chunk")
	}
	once.Do(func() { close(release) })
}
