package inmem_test

import (
	"errors"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// TestDB_Compact_WALOnly checks that WAL-only compaction after a checkpoint
// reduces disk use, removes the covered segments and older snapshots, and
// changes no read, before and after a reopen.
func TestDB_Compact_WALOnly(t *testing.T) {
	seed := testSeed(t)
	opts := &inmem.Options{SegmentSize: 4096}
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	w := newWorkload(seed)
	w.valueSize = 200
	w.run(t, db, 200)
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	w.run(t, db, 200)
	ck, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	w.run(t, db, 20) // records after the watermark stay needed
	before := capture(t, db, w.m)
	segsBefore, bytesBefore := segments(t, mem), diskBytes(t, mem, testDir)

	info, err := db.Compact(inmem.CompactWALOnly)
	if err != nil {
		t.Fatal(err)
	}
	segsAfter, bytesAfter := segments(t, mem), diskBytes(t, mem, testDir)
	if info.SegmentsRemoved == 0 || info.SnapshotsRemoved != 1 || info.VersionsRemoved != 0 || info.Checkpoint != nil {
		t.Fatalf("Compact = %+v, want segments and one old snapshot removed, no versions", info)
	}
	if len(segsAfter) != len(segsBefore)-info.SegmentsRemoved || bytesAfter != bytesBefore-info.ReclaimedBytes || bytesAfter >= bytesBefore {
		t.Fatalf("disk went from %d segments / %d bytes to %d / %d; Compact reported %+v", len(segsBefore), bytesBefore, len(segsAfter), bytesAfter, info)
	}
	if _, err := mem.Stat(ck.File); err != nil {
		t.Fatalf("the current snapshot is gone: %v", err)
	}
	checkSame(t, before, capture(t, db, w.m), "compaction changed reads")
	again, err := db.Compact(inmem.CompactWALOnly)
	if err != nil || again.SegmentsRemoved != 0 || again.ReclaimedBytes != 0 {
		t.Fatalf("a second compaction = %+v, %v; want nothing to do", again, err)
	}
	db.Close()
	db = openMem(t, mem, opts)
	defer db.Close()
	checkSame(t, before, capture(t, db, w.m), "reopen after compaction changed reads")
}

// TestDB_Compact_NoCheckpoint checks that without a snapshot compaction
// keeps every segment: recovery still needs them all.
func TestDB_Compact_NoCheckpoint(t *testing.T) {
	db, mem := newTestDB(t, &inmem.Options{SegmentSize: 4096, Preparation: inmem.PrepareInline})
	w := newWorkload(1)
	w.valueSize = 200
	w.run(t, db, 100)
	before := files(t, mem, testDir)
	info, err := db.Compact(inmem.CompactWALOnly)
	if err != nil || info.SegmentsRemoved != 0 || info.ReclaimedBytes != 0 {
		t.Fatalf("Compact = %+v, %v; want nothing removed", info, err)
	}
	if err := sameFiles(before, files(t, mem, testDir)); err != nil {
		t.Fatal(err)
	}
}

// TestDB_Compact_InvalidMode checks that an unknown mode is refused.
func TestDB_Compact_InvalidMode(t *testing.T) {
	db, _ := newTestDB(t, nil)
	if _, err := db.Compact(7); !errors.Is(err, inmem.ErrInvalid) {
		t.Fatalf("Compact(7) = %v, want ErrInvalid", err)
	}
	if inmem.CompactFull.String() != "full" || inmem.CompactWALOnly.String() != "wal-only" {
		t.Fatal("CompactMode names")
	}
}

// TestDB_CompactFull_KeepLast checks that full compaction under KeepLast(1)
// removes old versions: reading one returns a *HistoryTrimmedError, never a
// neighbouring version; the latest reads as before; runs without a policy,
// events and cells are untouched; and all of it stays so after reopen, also
// once newer versions were written on top.
func TestDB_CompactFull_KeepLast(t *testing.T) {
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.InMemory} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			opts := &inmem.Options{Durability: mode}
			db := openMem(t, mem, opts)
			k := fillKeepLast(t, db)
			info, err := db.Compact(inmem.CompactFull)
			if err != nil {
				t.Fatal(err)
			}
			if info.VersionsRemoved != 4 {
				t.Fatalf("VersionsRemoved = %d, want 4", info.VersionsRemoved)
			}
			if (mode == inmem.InMemory) != (info.Checkpoint == nil) {
				t.Fatalf("CompactFull checkpoint %+v in mode %s", info.Checkpoint, mode)
			}
			checkKeepLast(t, db, k, "after compaction")
			if mode == inmem.InMemory {
				return
			}
			db.Close()
			db = openMem(t, mem, opts)
			checkKeepLast(t, db, k, "after reopen")
			checkKeepLastNewVersion(t, db, mem, opts, k)
		})
	}
}

// keepLastDB is what fillKeepLast wrote: run "trimmed" under KeepLast(1)
// and run "kept" without a policy, each with five versions of key k.
type keepLastDB struct {
	run, other inmem.RunID
	vs         []inmem.Version // the versions of k in run, "a" to "e"
}

func (k keepLastDB) latest() inmem.Version { return k.vs[len(k.vs)-1] }

// fillKeepLast writes five versions of k to both runs, and five events and
// cell versions to the trimmed one, then sets its KeepLast(1) policy.
func fillKeepLast(t *testing.T, db *inmem.DB) keepLastDB {
	t.Helper()
	run, _ := db.CreateRun("trimmed")
	other, _ := db.CreateRun("kept")
	k := keepLastDB{run: run, other: other}
	for i := range 5 {
		v, err := db.KVPut(run, "k", []byte{byte('a' + i)})
		if err != nil {
			t.Fatal(err)
		}
		k.vs = append(k.vs, v)
		db.KVPut(other, "k", []byte{byte('a' + i)})
		db.EventAppend(run, []byte{byte(i)})
		db.StateSet(run, "c", []byte{byte(i)})
	}
	if _, err := db.SetRetentionPolicy(run, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	return k
}

// checkKeepLast checks the compacted database: the trimmed run reads only
// its latest version, and what no policy covers kept everything.
func checkKeepLast(t *testing.T, db *inmem.DB, k keepLastDB, what string) {
	t.Helper()
	checkKeepLastTrimmed(t, db, k, what)
	checkKeepLastUntouched(t, db, k, what)
}

// checkKeepLastTrimmed: every older version of the trimmed run is a
// *HistoryTrimmedError, the latest reads at and after its version, and the
// history holds only it.
func checkKeepLastTrimmed(t *testing.T, db *inmem.DB, k keepLastDB, what string) {
	t.Helper()
	latest := k.latest()
	for _, v := range k.vs[:len(k.vs)-1] {
		_, err := db.KVGetAt(k.run, "k", v)
		var he *inmem.HistoryTrimmedError
		if !errors.As(err, &he) || !errors.Is(err, inmem.ErrHistoryTrimmed) || he.Requested != v || he.Earliest != latest || he.Key != "k" {
			t.Fatalf("%s: KVGetAt(%d) = %v, want a *HistoryTrimmedError (requested %d, earliest %d)", what, v, err, v, latest)
		}
	}
	for _, at := range []inmem.Version{latest, latest + 1000} {
		got, err := db.KVGetAt(k.run, "k", at)
		if err != nil || got.Version != latest || string(got.Value) != "e" {
			t.Fatalf("%s: KVGetAt(%d) = %+v, %v; want e at %d", what, at, got, err, latest)
		}
	}
	if h, err := db.KVHistory(k.run, "k"); err != nil || len(h) != 1 || h[0].Version != latest {
		t.Fatalf("%s: KVHistory = %+v, %v; want only version %d", what, h, err, latest)
	}
}

// checkKeepLastUntouched: the run without a policy keeps its whole
// history, and the trimmed run keeps its events.
func checkKeepLastUntouched(t *testing.T, db *inmem.DB, k keepLastDB, what string) {
	t.Helper()
	if h, _ := db.KVHistory(k.other, "k"); len(h) != 5 {
		t.Fatalf("%s: the run without a policy lost history: %d versions", what, len(h))
	}
	if got, err := db.KVGetAt(k.other, "k", k.vs[0]+1); err != nil || string(got.Value) != "a" {
		t.Fatalf("%s: KVGetAt on the kept run = %+v, %v", what, got, err)
	}
	if n, _ := db.EventCount(k.run); n != 5 {
		t.Fatalf("%s: events trimmed: %d", what, n)
	}
}

// checkKeepLastNewVersion writes a version on top of the trimmed history
// and reopens (it closes db): the history is the latest and the new one,
// and the trimmed versions stay trimmed.
func checkKeepLastNewVersion(t *testing.T, db *inmem.DB, mem *vfs.MemFS, opts *inmem.Options, k keepLastDB) {
	t.Helper()
	v6, _ := db.KVPut(k.run, "k", []byte("f"))
	db.Close()
	db = openMem(t, mem, opts)
	defer db.Close()
	if h, _ := db.KVHistory(k.run, "k"); len(h) != 2 || h[0].Version != k.latest() || h[1].Version != v6 {
		t.Fatalf("after a new version and reopen: history %+v", h)
	}
	if _, err := db.KVGetAt(k.run, "k", k.vs[0]); !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("trimmed version readable again after reopen: %v", err)
	}
}

// TestDB_CompactFull_KeepFor checks the age-based policy: versions younger
// than the age stay, older ones go, the newest always stays.
func TestDB_CompactFull_KeepFor(t *testing.T) {
	db, _ := newTestDB(t, nil)
	young, _ := db.CreateRun("young")
	old, _ := db.CreateRun("old")
	for i := range 3 {
		db.KVPut(young, "k", []byte{byte(i)})
		db.KVPut(old, "k", []byte{byte(i)})
	}
	db.SetRetentionPolicy(young, inmem.KeepFor(time.Hour))
	db.SetRetentionPolicy(old, inmem.KeepFor(time.Microsecond))
	time.Sleep(2 * time.Millisecond)
	info, err := db.Compact(inmem.CompactFull)
	if err != nil || info.VersionsRemoved != 2 {
		t.Fatalf("Compact = %+v, %v; want 2 versions removed", info, err)
	}
	if h, _ := db.KVHistory(young, "k"); len(h) != 3 {
		t.Fatalf("KeepFor(1h) history has %d versions, want 3", len(h))
	}
	if h, _ := db.KVHistory(old, "k"); len(h) != 1 || h[0].Value[0] != 2 {
		t.Fatalf("KeepFor(1µs) history = %+v, want only the newest", h)
	}
}

// TestDB_CompactFull_KeepsTombstone checks that trimming a deleted key
// keeps its deletion, so it stays deleted.
func TestDB_CompactFull_KeepsTombstone(t *testing.T) {
	db, _ := newTestDB(t, nil)
	run, _ := db.CreateRun("r")
	db.KVPut(run, "k", []byte("v"))
	db.KVDelete(run, "k")
	db.SetRetentionPolicy(run, inmem.KeepLast(1))
	if _, err := db.Compact(inmem.CompactFull); err != nil {
		t.Fatal(err)
	}
	if _, err := db.KVGet(run, "k"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("KVGet of a deleted, trimmed key = %v, want ErrNotFound", err)
	}
	if keys, _ := db.KVKeys(run, ""); len(keys) != 0 {
		t.Fatalf("KVKeys = %v", keys)
	}
}
