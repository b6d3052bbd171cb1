package inmem_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

func segPath(n uint64) string { return filepath.Join(testDir, wal.DirName, wal.SegmentName(n)) }

// walRecord locates one record in a segment file.
type walRecord struct {
	off, size int64
	txn       uint64
}

// walRecords decodes the records of a segment file's content, up to the
// zeros the log wrote ahead of itself.
func walRecords(t testing.TB, data []byte) []walRecord {
	t.Helper()
	var out []walRecord
	off := int64(wal.HeaderSize)
	for off < int64(len(data)) && !allZero(data[off:]) {
		r, n, err := wal.DecodeRecord(data[off:], off, 1<<30)
		if err != nil {
			t.Fatalf("record at offset %d: %v", off, err)
		}
		out = append(out, walRecord{off: off, size: int64(n), txn: r.Txn})
		off += int64(n)
	}
	return out
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// segments returns the numbers of the log's segment files.
func segments(t testing.TB, fsys vfs.FS) []uint64 {
	t.Helper()
	nums, err := wal.ListSegments(fsys, filepath.Join(testDir, wal.DirName))
	if err != nil {
		t.Fatal(err)
	}
	return nums
}

// crashed returns the files a process crash of db leaves: everything it
// wrote, whether synced or not, but nothing a clean Close would add. db is
// abandoned.
func crashed(t testing.TB, db *inmem.DB, mem *vfs.MemFS) *vfs.MemFS {
	t.Helper()
	c := mem.Crash(vfs.CrashPolicy{Mode: vfs.KeepUnsynced})
	abandon(t, db)
	return c
}

// abandon registers the Close of a database the test walked away from
// (its files were cloned by a simulated crash) so no goroutine leaks.
func abandon(t testing.TB, db *inmem.DB) {
	t.Cleanup(func() { db.Close() })
}

// TestDB_Open_AfterCrash crashes (abandons) a database in the middle of a
// workload and checks what recovery finds: every acknowledged commit after
// a process crash in any mode and after a power loss in Strict mode; in
// Buffered mode after a power loss, a prefix holding every commit
// acknowledged before the last Flush.
func TestDB_Open_AfterCrash(t *testing.T) {
	seed := testSeed(t)
	tcs := []struct {
		mode   inmem.Durability
		policy vfs.CrashPolicy
	}{
		{inmem.Strict, vfs.CrashPolicy{Mode: vfs.KeepUnsynced}},
		{inmem.Strict, vfs.CrashPolicy{Mode: vfs.DropUnsynced}},
		{inmem.Strict, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed}},
		{inmem.Buffered, vfs.CrashPolicy{Mode: vfs.KeepUnsynced}},
		{inmem.Buffered, vfs.CrashPolicy{Mode: vfs.DropUnsynced}},
		{inmem.Buffered, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed}},
	}
	for _, tc := range tcs {
		t.Run(fmt.Sprintf("%s/%s", tc.mode, tc.policy.Mode), func(t *testing.T) {
			opts := &inmem.Options{Durability: tc.mode, SegmentSize: 16 << 10}
			mem := vfs.NewMemFS()
			db := openMem(t, mem, opts)
			abandon(t, db)
			w := newWorkload(seed)
			w.valueSize = 100
			w.run(t, db, 300)
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			flushed := db.LastVersion()
			w.run(t, db, 100)

			crashed := mem.Crash(tc.policy)
			db2 := openMem(t, crashed, opts)
			defer db2.Close()
			got := db2.LastVersion()
			switch {
			case tc.mode == inmem.Strict || tc.policy.Mode == vfs.KeepUnsynced:
				if got != w.m.Latest() {
					t.Fatalf("recovered up to version %d; every acknowledged commit (up to %d) must survive", got, w.m.Latest())
				}
			case got < flushed:
				t.Fatalf("recovered up to version %d; commits up to %d were flushed", got, flushed)
			}
			checkPrefix(t, db2, w.m, "after crash")
			// The database keeps working and its next version follows.
			if ms := crashtest.ProbeNext(db2); ms != nil {
				t.Fatalf("after recovery: %v", ms)
			}
		})
	}
}

// killableFS runs a database on a filesystem that outlives it, the way the
// kernel's page cache outlives a killed process: kill releases the locks the
// dead handle held, and the test never touches that handle again.
type killableFS struct {
	vfs.FS
	locks []io.Closer
}

func (k *killableFS) Lock(name string) (io.Closer, error) {
	l, err := k.FS.Lock(name)
	if err == nil {
		k.locks = append(k.locks, l)
	}
	return l, err
}

func (k *killableFS) kill() {
	for _, l := range k.locks {
		l.Close()
	}
	k.locks = nil
}

// TestDB_Open_CrashTwice checks that recovery makes what it read durable: a
// process kill (unsynced writes stay in the page cache), a recovery, then a
// power loss right after it lose nothing the recovery served.
func TestDB_Open_CrashTwice(t *testing.T) {
	seed := testSeed(t)
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			kfs := &killableFS{FS: mem}
			opts := &inmem.Options{Durability: mode, SegmentSize: 8 << 10, SyncInterval: 1 << 40, FS: kfs}
			db, err := inmem.Open(testDir, opts)
			if err != nil {
				t.Fatal(err)
			}
			w := newWorkload(seed)
			w.valueSize = 100
			w.run(t, db, 200)
			// NB: a workload may end on a sync (a flush, a rotation): go on
			// until the kill has unsynced writes to leave in the page cache.
			for extra := 0; mode == inmem.Buffered && mem.UnsyncedOps() == 0 && extra < 100; extra++ {
				w.run(t, db, 1)
			}
			kfs.kill() // db is dead: never used again
			if mode == inmem.Buffered && mem.UnsyncedOps() == 0 {
				t.Fatal("nothing unsynced after 300 steps: the test proves nothing")
			}

			db2, err := inmem.Open(testDir, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkModel(t, db2, w.m, "after the kill")
			lost := mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
			db3 := openMem(t, lost, nil)
			defer db3.Close()
			checkModel(t, db3, w.m, "after a power loss right after recovery")
			kfs.kill()
		})
	}
}

// tornCases damage the end of a segment the way a power loss can.
// tornCases damage the end of the log of a segment written ahead with
// zeros. clean: the damage leaves only zeros after the records kept, the
// segment's prepared rest, which is no torn tail: nothing is cut.
var tornCases = []struct {
	name  string
	lose  bool // the last record is lost
	clean bool
	apply func(data []byte, last walRecord, rng *rand.Rand) []byte
}{
	{"cut in the length", true, false, func(d []byte, r walRecord, _ *rand.Rand) []byte { return d[:r.off+2] }},
	{"cut in the payload", true, false, func(d []byte, r walRecord, _ *rand.Rand) []byte { return d[:r.off+r.size/2] }},
	{"cut before the CRC", true, false, func(d []byte, r walRecord, _ *rand.Rand) []byte { return d[:r.off+r.size-1] }},
	{"zeroed record", true, true, func(d []byte, r walRecord, _ *rand.Rand) []byte {
		clear(d[r.off:])
		return d
	}},
	{"half-zeroed record", true, false, func(d []byte, r walRecord, _ *rand.Rand) []byte {
		clear(d[r.off+r.size/2:])
		return d
	}},
	{"flipped bit in the last record", true, false, func(d []byte, r walRecord, _ *rand.Rand) []byte {
		d[r.off+r.size-6] ^= 0x10
		return d
	}},
	{"zero sectors after", false, true, func(d []byte, _ walRecord, _ *rand.Rand) []byte { return append(d, make([]byte, 1024)...) }},
	{"garbage after", false, false, func(d []byte, _ walRecord, rng *rand.Rand) []byte {
		g := make([]byte, 700)
		for i := range g {
			g[i] = byte(rng.UintN(256))
		}
		return append(d, g...)
	}},
}

// TestDB_Open_TornTail damages the end of the last segment after a crash:
// recovery truncates it (losing at most the damaged record), the database
// accepts writes, and they survive another reopen.
func TestDB_Open_TornTail(t *testing.T) {
	seed := testSeed(t)
	for _, tc := range tornCases {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			db := openMem(t, mem, nil)
			w := newWorkload(seed)
			w.run(t, db, 120)
			mem = crashed(t, db, mem) // a torn tail is what a crash leaves
			nums := segments(t, mem)
			path := segPath(nums[len(nums)-1])
			data, err := vfs.ReadFile(mem, path)
			if err != nil {
				t.Fatal(err)
			}
			rs := walRecords(t, data)
			last := rs[len(rs)-1]
			writeFile(t, mem, path, tc.apply(bytes.Clone(data), last, rand.New(rand.NewPCG(seed, 1))))

			db = openMem(t, mem, nil)
			want := w.m.Latest()
			if tc.lose {
				want--
			}
			if db.LastVersion() != want {
				t.Fatalf("recovered up to %d, want %d", db.LastVersion(), want)
			}
			rep := db.Recovery()
			wantCut := last.off + last.size
			if tc.lose {
				wantCut = last.off
			}
			if tc.clean {
				if rep.TornSegment != "" {
					t.Fatalf("recovery cut the zeroed rest of the segment as a torn tail: %+v", rep)
				}
				wantCut = last.off
				if !tc.lose {
					wantCut += last.size
				}
			} else if rep.TornSegment != path || rep.TornOffset != wantCut {
				t.Fatalf("recovery report: torn %q at %d, want %q at %d", rep.TornSegment, rep.TornOffset, path, wantCut)
			}
			if after, _ := vfs.ReadFile(mem, path); int64(len(after)) < wantCut || !allZero(after[wantCut:]) {
				t.Fatalf("segment is %d bytes after recovery, want %d and then only the zeros written ahead", len(after), wantCut)
			}
			checkAt(t, db, w.m, want, "after truncation")
			w.m.Settle(want)
			w.run(t, db, 50)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openMem(t, mem, nil)
			defer db.Close()
			if rep := db.Recovery(); rep.TornSegment != "" {
				t.Fatalf("second recovery found a torn tail again: %+v", rep)
			}
			checkModel(t, db, w.m, "after writes and another reopen")
		})
	}
}

func writeFile(t testing.TB, fsys vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fsys.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func fileSize(t testing.TB, fsys vfs.FS, path string) int64 {
	t.Helper()
	info, err := fsys.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// corruptLog runs n steps of a workload over small segments, closes the
// database and returns the file system and the workload.
func corruptLog(t testing.TB, seed uint64, n int) (*vfs.MemFS, *workload) {
	t.Helper()
	mem, db, w := genLog(t, seed, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return mem, w
}

// crashedLog is corruptLog ending in a process crash instead of a Close.
func crashedLog(t testing.TB, seed uint64, n int) (*vfs.MemFS, *workload) {
	t.Helper()
	mem, db, w := genLog(t, seed, n)
	return crashed(t, db, mem), w
}

func genLog(t testing.TB, seed uint64, n int) (*vfs.MemFS, *inmem.DB, *workload) {
	t.Helper()
	mem := vfs.NewMemFS()
	db := openMem(t, mem, &inmem.Options{SegmentSize: 8 << 10})
	w := newWorkload(seed)
	w.valueSize = 100
	w.run(t, db, n)
	return mem, db, w
}

// TestDB_Open_CorruptRecord damages a durable record (one followed by valid
// records): Open refuses with a *CorruptionError naming the segment and the
// record's offset, and changes no byte on disk.
func TestDB_Open_CorruptRecord(t *testing.T) {
	seed := testSeed(t)
	damages := []struct {
		name string
		hit  func(d []byte, r walRecord)
	}{
		{"flipped payload bit", func(d []byte, r walRecord) { d[r.off+r.size/2] ^= 0x01 }},
		{"flipped CRC bit", func(d []byte, r walRecord) { d[r.off+r.size-1] ^= 0x80 }},
		{"zeroed sector", func(d []byte, r walRecord) { clear(d[r.off : r.off+min(r.size, 512)]) }},
		{"length too large", func(d []byte, r walRecord) { d[r.off+3] = 0x7f }},
		{"length too small", func(d []byte, r walRecord) { clear(d[r.off : r.off+4]) }},
	}
	for _, where := range []string{"middle of the last segment", "end of an earlier segment"} {
		for _, dmg := range damages {
			t.Run(where+"/"+dmg.name, func(t *testing.T) {
				mem, _ := corruptLog(t, seed, 300)
				nums := segments(t, mem)
				if len(nums) < 3 {
					t.Fatalf("only %d segments", len(nums))
				}
				num := nums[len(nums)-1]
				if where != "middle of the last segment" {
					num = nums[1]
				}
				path := segPath(num)
				data, _ := vfs.ReadFile(mem, path)
				rs := walRecords(t, data)
				victim := rs[len(rs)/2]
				if where != "middle of the last segment" {
					victim = rs[len(rs)-1]
				}
				dmg.hit(data, victim)
				writeFile(t, mem, path, data)
				before := files(t, mem, testDir)

				_, err := inmem.Open(testDir, &inmem.Options{FS: mem, SegmentSize: 8 << 10})
				var ce *inmem.CorruptionError
				if !errors.Is(err, inmem.ErrCorrupt) || !errors.As(err, &ce) {
					t.Fatalf("Open = %v, want a *CorruptionError", err)
				}
				if ce.File != path || ce.Offset != victim.off {
					t.Fatalf("corruption reported in %s at %d, want %s at %d (%v)", ce.File, ce.Offset, path, victim.off, err)
				}
				if err := sameFiles(before, files(t, mem, testDir)); err != nil {
					t.Fatalf("a refused Open changed the disk: %v", err)
				}
			})
		}
	}
}

// TestDB_Open_PointInTime checks RecoverPointInTime: it opens the prefix up
// to the first damage, keeps what it dropped in lost+found, and the
// database works on.
func TestDB_Open_PointInTime(t *testing.T) {
	seed := testSeed(t)
	opts := &inmem.Options{SegmentSize: 8 << 10, Recovery: inmem.RecoverPointInTime}
	mem, w := corruptLog(t, seed, 300)
	nums := segments(t, mem)
	path := segPath(nums[1])
	data, _ := vfs.ReadFile(mem, path)
	rs := walRecords(t, data)
	victim := rs[len(rs)/2]
	data[victim.off+victim.size/2] ^= 0x04
	writeFile(t, mem, path, data)

	db := openMem(t, mem, opts)
	rep := db.Recovery()
	if rep.Dropped == nil || rep.Dropped.Damage.File != path || rep.Dropped.Damage.Offset != victim.off {
		t.Fatalf("recovery report %+v, want damage in %s at %d", rep.Dropped, path, victim.off)
	}
	if len(rep.Dropped.Segments) != len(nums)-2 || rep.Dropped.Cut != wal.SegmentName(nums[1]) || rep.Dropped.CutAt != victim.off {
		t.Fatalf("dropped %+v, want %d later segments and %s cut at %d", rep.Dropped, len(nums)-2, wal.SegmentName(nums[1]), victim.off)
	}
	want := inmem.Version(victim.txn - 1)
	checkAt(t, db, w.m, want, "point in time")
	lost := files(t, mem, filepath.Join(testDir, inmem.LostFoundName))
	if len(lost) != len(nums)-2+2 { // the later segments, a copy of the cut one, the note
		t.Fatalf("lost+found holds %d files, want %d", len(lost), len(nums))
	}
	w.m.Settle(want)
	w.run(t, db, 50)
	db.Close()
	db = openMem(t, mem, &inmem.Options{SegmentSize: 8 << 10})
	defer db.Close()
	checkModel(t, db, w.m, "strict reopen after point-in-time recovery")
}

// TestDB_Open_MissingSegment checks that a gap in the log is corruption.
func TestDB_Open_MissingSegment(t *testing.T) {
	mem, _ := corruptLog(t, testSeed(t), 300)
	nums := segments(t, mem)
	if err := mem.Remove(segPath(nums[1])); err != nil {
		t.Fatal(err)
	}
	before := files(t, mem, testDir)
	_, err := inmem.Open(testDir, &inmem.Options{FS: mem, SegmentSize: 8 << 10})
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || ce.File != segPath(nums[1]) || !strings.Contains(ce.Reason, "missing") {
		t.Fatalf("Open = %v, want corruption naming the missing %s", err, segPath(nums[1]))
	}
	if err := sameFiles(before, files(t, mem, testDir)); err != nil {
		t.Fatal(err)
	}
}

// TestDB_Open_BadSegmentHeader checks that a damaged header of a segment
// that holds records is corruption, not a torn rotation.
func TestDB_Open_BadSegmentHeader(t *testing.T) {
	for _, which := range []string{"first", "last"} {
		t.Run(which, func(t *testing.T) {
			mem, _ := corruptLog(t, testSeed(t), 300)
			nums := segments(t, mem)
			n := nums[0]
			if which == "last" {
				n = nums[len(nums)-1]
			}
			data, _ := vfs.ReadFile(mem, segPath(n))
			data[9] ^= 0xff // the segment number
			writeFile(t, mem, segPath(n), data)
			_, err := inmem.Open(testDir, &inmem.Options{FS: mem, SegmentSize: 8 << 10})
			var ce *inmem.CorruptionError
			if !errors.As(err, &ce) || ce.File != segPath(n) || ce.Offset != 0 {
				t.Fatalf("Open = %v, want corruption of %s at 0", err, segPath(n))
			}
		})
	}
}

// TestDB_Open_BadManifest checks that a MANIFEST that fails its checksum is
// a corruption error naming it, never a silent reset, and that nothing on
// disk changes.
func TestDB_Open_BadManifest(t *testing.T) {
	for _, tc := range []struct {
		name string
		hit  func([]byte) []byte
	}{
		{"flipped bit", func(b []byte) []byte { b[30] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:20] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"zeroed", func(b []byte) []byte { clear(b); return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, _ := corruptLog(t, 1, 20)
			path := filepath.Join(testDir, "MANIFEST")
			data, _ := vfs.ReadFile(mem, path)
			writeFile(t, mem, path, tc.hit(data))
			before := files(t, mem, testDir)
			_, err := inmem.Open(testDir, &inmem.Options{FS: mem})
			var ce *inmem.CorruptionError
			if !errors.As(err, &ce) || ce.File != path {
				t.Fatalf("Open = %v, want a *CorruptionError naming %s", err, path)
			}
			if err := sameFiles(before, files(t, mem, testDir)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDB_Open_MissingManifest checks that a directory whose MANIFEST is
// gone but which holds log records or a snapshot is refused, unchanged,
// while one that holds only an empty first segment (a creation cut short)
// is created again.
func TestDB_Open_MissingManifest(t *testing.T) {
	t.Run("records", func(t *testing.T) {
		mem, _ := corruptLog(t, 1, 20)
		mem.Remove(filepath.Join(testDir, "MANIFEST"))
		before := files(t, mem, testDir)
		_, err := inmem.Open(testDir, &inmem.Options{FS: mem})
		if !errors.Is(err, inmem.ErrCorrupt) || !strings.Contains(err.Error(), "MANIFEST is missing") {
			t.Fatalf("Open = %v, want corruption: MANIFEST is missing", err)
		}
		if err := sameFiles(before, files(t, mem, testDir)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		mem := vfs.NewMemFS()
		db := openMem(t, mem, nil)
		run, _ := db.CreateRun("r")
		db.KVPut(run, "k", []byte("v"))
		if _, err := db.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
			t.Fatal(err)
		}
		db.Close()
		mem.Remove(filepath.Join(testDir, "MANIFEST"))
		for _, n := range segments(t, mem) {
			mem.Remove(segPath(n))
		}
		_, err := inmem.Open(testDir, &inmem.Options{FS: mem})
		if !errors.Is(err, inmem.ErrCorrupt) || !strings.Contains(err.Error(), "snapshot") {
			t.Fatalf("Open = %v, want corruption: MANIFEST missing, snapshot present", err)
		}
	})
	t.Run("creation cut short", func(t *testing.T) {
		mem := vfs.NewMemFS()
		db := openMem(t, mem, nil)
		db.Close()
		mem.Remove(filepath.Join(testDir, "MANIFEST"))
		db = openMem(t, mem, nil)
		defer db.Close()
		if !db.Recovery().Created {
			t.Fatalf("recovery report %+v, want a new database", db.Recovery())
		}
	})
}

// TestDB_Open_MissingSnapshot checks that a MANIFEST naming a snapshot
// that is gone is corruption.
func TestDB_Open_MissingSnapshot(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, _ := db.CreateRun("r")
	db.KVPut(run, "k", []byte("v"))
	ck, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	mem.Remove(ck.File)
	_, err = inmem.Open(testDir, &inmem.Options{FS: mem})
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || ce.File != ck.File {
		t.Fatalf("Open = %v, want corruption naming %s", err, ck.File)
	}
}

// TestDB_Open_CorruptSnapshot flips a bit inside a snapshot's block.
func TestDB_Open_CorruptSnapshot(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	newWorkload(1).run(t, db, 100)
	ck, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	data, _ := vfs.ReadFile(mem, ck.File)
	data[len(data)/2] ^= 0x20
	writeFile(t, mem, ck.File, data)
	_, err = inmem.Open(testDir, &inmem.Options{FS: mem})
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || ce.File != ck.File {
		t.Fatalf("Open = %v, want corruption naming %s", err, ck.File)
	}
}

// TestDB_Rotation_ManySegments writes across many 4 KiB segments and checks
// the reopened state, after a clean close and after a power loss.
func TestDB_Rotation_ManySegments(t *testing.T) {
	seed := testSeed(t)
	opts := &inmem.Options{SegmentSize: 4096}
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	abandon(t, db)
	w := newWorkload(seed)
	w.valueSize = 300
	w.run(t, db, 600)
	nums := segments(t, mem)
	if len(nums) < 20 {
		t.Fatalf("only %d segments; want many", len(nums))
	}
	for i, n := range nums {
		if n != uint64(i+1) {
			t.Fatalf("segments %v are not 1..n", nums)
		}
		if size := fileSize(t, mem, segPath(n)); size > 4096 {
			t.Fatalf("segment %d is %d bytes, above SegmentSize", n, size)
		}
	}
	crashed := mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	db2 := openMem(t, crashed, opts)
	checkModel(t, db2, w.m, "after a power loss")
	if r := db2.Recovery(); r.Segments != len(nums) {
		t.Fatalf("recovery read %d segments, want %d", r.Segments, len(nums))
	}
	db2.Close()
	before := capture(t, db, w.m)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openMem(t, mem, opts)
	defer db.Close()
	checkSame(t, before, capture(t, db, w.m), "reopened state differs")
}

// TestDB_Rotation_Crash crashes at each segment rotation (new segment
// created, not yet synced) under every policy, and checks recovery.
func TestDB_Rotation_Crash(t *testing.T) {
	seed := testSeed(t)
	policies := []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}}
	for i := range 4 {
		policies = append(policies, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + uint64(i)})
	}
	for _, hit := range []uint64{1, 2, 5} {
		for _, p := range policies {
			t.Run(fmt.Sprintf("hit%d/%s", hit, p), func(t *testing.T) {
				cps := crashpoint.New()
				opts := &inmem.Options{SegmentSize: 4096, CrashPoints: cps}
				mem := vfs.NewMemFS()
				db := openMem(t, mem, opts)
				abandon(t, db)
				var crashed *vfs.MemFS
				var acked inmem.Version
				cps.Arm(crashpoint.OnHit(crashpoint.DuringSegmentRotation, hit), func(crashpoint.Point) {
					acked = db.LastVersion()
					crashed = mem.Crash(p)
				})
				w := newWorkload(seed)
				w.valueSize = 300
				w.run(t, db, 200)
				if crashed == nil {
					t.Fatal("the crash point never fired")
				}
				db2 := openMem(t, crashed, &inmem.Options{SegmentSize: 4096})
				defer db2.Close()
				got := db2.LastVersion()
				if got < acked {
					t.Fatalf("recovered up to %d, but %d was acknowledged at the crash", got, acked)
				}
				checkPrefix(t, db2, w.m, "after a crash during rotation")
				if ms := crashtest.ProbeNext(db2); ms != nil {
					t.Fatalf("after recovery: %v", ms)
				}
			})
		}
	}
}

// TestDB_Open_CrashDuringRecovery crashes a recovery while it truncates a
// torn tail and checks that recovering again gives the same state.
func TestDB_Open_CrashDuringRecovery(t *testing.T) {
	seed := testSeed(t)
	mem, w := crashedLog(t, seed, 200)
	nums := segments(t, mem)
	path := segPath(nums[len(nums)-1])
	data, _ := vfs.ReadFile(mem, path)
	rs := walRecords(t, data)
	writeFile(t, mem, path, data[:rs[len(rs)-1].off+3])
	want := w.m.Latest() - 1 // the torn record is lost
	for hit := uint64(1); ; hit++ {
		src := mem.Crash(vfs.CrashPolicy{Mode: vfs.KeepUnsynced})
		cps := crashpoint.New()
		var crashed *vfs.MemFS
		cps.Arm(crashpoint.OnHit(crashpoint.DuringRecovery, hit), func(crashpoint.Point) {
			crashed = src.Crash(vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + hit})
		})
		db := openMem(t, src, &inmem.Options{SegmentSize: 8 << 10, CrashPoints: cps})
		checkAt(t, db, w.m, want, "the interrupted recovery")
		db.Close()
		if crashed == nil {
			if hit < 3 {
				t.Fatalf("only %d recovery crash points", hit-1)
			}
			return
		}
		db = openMem(t, crashed, &inmem.Options{SegmentSize: 8 << 10})
		checkAt(t, db, w.m, want, fmt.Sprintf("recovery after a crash at recovery point %d", hit))
		db.Close()
	}
}

// failSyncs fails every sync of a WAL segment while on.
type failSyncs struct{ errorfs.Toggle }

func (f *failSyncs) MaybeError(op errorfs.Op) error {
	if op.Kind == errorfs.OpSync && strings.Contains(op.Path, wal.DirName) && strings.HasSuffix(op.Path, ".seg") {
		return f.Toggle.MaybeError(op)
	}
	return nil
}

// TestDB_FailStop_SyncError injects an fsync failure: the failing commit
// returns it, every later write returns ErrFailed wrapping it, reads keep
// working and show only acknowledged commits, and reopening holds every
// acknowledged commit.
func TestDB_FailStop_SyncError(t *testing.T) {
	seed := testSeed(t)
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			inj := &failSyncs{errorfs.Toggle{Err: errorfs.ErrSyncFailed}}
			opts := &inmem.Options{Durability: mode, FS: errorfs.Wrap(mem, inj), SyncInterval: 1 << 40}
			db, err := inmem.Open(testDir, opts)
			if err != nil {
				t.Fatal(err)
			}
			w := newWorkload(seed)
			w.run(t, db, 100)
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			acked := w.m.Latest()
			run := runID(t, db, "run-0")

			inj.On()
			var failedErr error
			if mode == inmem.Strict {
				_, failedErr = db.KVPut(run, "failed", []byte("x"))
			} else {
				if _, err := db.KVPut(run, "buffered", []byte("x")); err != nil {
					t.Fatalf("a Buffered put does not sync, yet failed: %v", err)
				}
				failedErr = db.Flush()
			}
			if !errors.Is(failedErr, errorfs.ErrSyncFailed) || !errors.Is(failedErr, inmem.ErrFailed) {
				t.Fatalf("the failing commit returned %v, want the fsync error and ErrFailed", failedErr)
			}
			inj.Off() // the disk recovers; the database must not
			for name, err := range map[string]error{
				"KVPut":      second(db.KVPut(run, "later", nil)),
				"CreateRun":  second(db.CreateRun("later")),
				"Update":     db.Update(func(tx *inmem.Tx) error { return tx.StateSet(run, "c", nil) }),
				"Flush":      db.Flush(),
				"Checkpoint": second(db.Checkpoint()),
				"Compact":    second(db.Compact(inmem.CompactFull)),
			} {
				if !errors.Is(err, inmem.ErrFailed) || !errors.Is(err, errorfs.ErrSyncFailed) {
					t.Errorf("%s after the failure = %v, want ErrFailed wrapping the fsync error", name, err)
				}
			}
			if !errors.Is(db.Err(), errorfs.ErrSyncFailed) {
				t.Errorf("Err() = %v", db.Err())
			}
			if mode == inmem.Strict {
				if _, err := db.KVGet(run, "failed"); !errors.Is(err, inmem.ErrNotFound) {
					t.Fatalf("the failed commit is readable: %v", err)
				}
				checkAt(t, db, w.m, acked, "reads after the failure")
			}
			if err := db.Close(); !errors.Is(err, inmem.ErrFailed) {
				t.Fatalf("Close = %v, want the failure", err)
			}
			// Reopen on what is really on disk, after a power loss too.
			for _, fsys := range []vfs.FS{mem, mem.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})} {
				checkReopenedAfterFailure(t, fsys, mode, w.m, acked, run)
			}
		})
	}
}

// checkReopenedAfterFailure opens what a database that failed on a sync
// left on fsys: the acknowledged state, plus perhaps the commit that failed
// (Strict) or the one the failing Flush did not sync (Buffered), whole.
func checkReopenedAfterFailure(t *testing.T, fsys vfs.FS, mode inmem.Durability, m *crashtest.ReferenceModel, acked inmem.Version, run inmem.RunID) {
	t.Helper()
	db := openMem(t, fsys, &inmem.Options{Durability: mode})
	defer db.Close()
	switch got := db.LastVersion(); {
	case mode == inmem.Strict && got == acked+1:
		// The failed record reached the file; its presence is allowed (it
		// was never acknowledged), but whole.
		if v, err := db.KVGet(run, "failed"); err != nil || string(v.Value) != "x" {
			t.Fatalf("the failed commit is half there: %v", err)
		}
	case mode == inmem.Buffered && got == acked+1:
		if _, err := db.KVGet(run, "buffered"); err != nil {
			t.Fatal(err)
		}
	default:
		checkAt(t, db, m, acked, "reopened")
	}
}

// TestDB_FailStop_WriteError fails a WAL write (EIO, ENOSPC, short write):
// the commit fails and the database stops taking writes.
func TestDB_FailStop_WriteError(t *testing.T) {
	for _, inject := range []error{errorfs.ErrIO, errorfs.ErrNoSpace, errorfs.ErrShortWrite} {
		t.Run(inject.Error(), func(t *testing.T) {
			mem := vfs.NewMemFS()
			tog := &errorfs.Toggle{Err: inject}
			inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
				if op.Kind == errorfs.OpWrite && strings.HasSuffix(op.Path, ".seg") {
					return tog.MaybeError(op)
				}
				return nil
			})
			db, err := inmem.Open(testDir, &inmem.Options{FS: errorfs.Wrap(mem, inj)})
			if err != nil {
				t.Fatal(err)
			}
			w := newWorkload(3)
			w.run(t, db, 50)
			run := runID(t, db, "run-0")
			tog.On()
			_, err = db.KVPut(run, "failed", []byte("x"))
			if !errors.Is(err, inject) || !errors.Is(err, inmem.ErrFailed) {
				t.Fatalf("failing commit = %v", err)
			}
			tog.Off()
			if _, err := db.KVPut(run, "later", nil); !errors.Is(err, inmem.ErrFailed) {
				t.Fatalf("later commit = %v, want ErrFailed", err)
			}
			db.Close()
			db2 := openMem(t, mem, nil)
			defer db2.Close()
			checkModel(t, db2, w.m, "after reopen") // a half-written record is a torn tail
		})
	}
}
