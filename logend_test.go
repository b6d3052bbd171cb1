package inmem_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// newestDamage damages the newest segment of a log. It returns the offset a
// refusal must name (-1: the segment is missing) and the offset a torn-tail
// cut may keep the log to (the valid records left).
type newestDamage struct {
	name   string
	damage func(t *testing.T, fsys *vfs.MemFS, path string, rs []walRecord) (refusedAt, validEnd int64)
	// crashAlso: the damage is refused after a crash too, not only after a
	// clean Close: it reaches below the durable end the last rotation
	// recorded (the new segment, past its header).
	crashAlso bool
}

var newestDamages = []newestDamage{
	{"deleted", func(t *testing.T, fsys *vfs.MemFS, path string, _ []walRecord) (int64, int64) {
		if err := fsys.Remove(path); err != nil {
			t.Fatal(err)
		}
		return -1, 0
	}, true},
	{"cut at a record boundary", func(t *testing.T, fsys *vfs.MemFS, path string, rs []walRecord) (int64, int64) {
		cut := rs[len(rs)/2].off
		truncate(t, fsys, path, cut)
		return cut, cut
	}, false},
	{"cut mid-record", func(t *testing.T, fsys *vfs.MemFS, path string, rs []walRecord) (int64, int64) {
		r := rs[len(rs)/2]
		truncate(t, fsys, path, r.off+r.size/2)
		return r.off, r.off
	}, false},
	{"zero-filled", func(t *testing.T, fsys *vfs.MemFS, path string, _ []walRecord) (int64, int64) {
		writeFile(t, fsys, path, make([]byte, fileSize(t, fsys, path)))
		return 0, 0
	}, true},
}

func truncate(t *testing.T, fsys *vfs.MemFS, path string, size int64) {
	t.Helper()
	if err := fsys.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TestDB_Open_DurableEnd is the corruption table of the log's durable end:
// the newest segment deleted, cut at a record boundary, cut mid-record or
// zero-filled, after a clean Close and after a crash, Strict and Buffered.
// After a clean Close every one is refused with a *CorruptionError naming
// the segment, changing nothing on disk, and so are Verify and Inspect;
// point-in-time recovery then opens the valid prefix, keeping what it cuts
// in lost+found, and the database opens normally after it. After a crash
// the deletion and the zeroed header are refused too (the last rotation
// recorded the segment), while a cut inside the segment's records is what
// a torn tail looks like: recovery keeps every record before the cut and
// never loses one before the durable end.
func TestDB_Open_DurableEnd(t *testing.T) {
	seed := testSeed(t)
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		for _, ending := range []string{"clean close", "crash"} {
			for _, dmg := range newestDamages {
				t.Run(fmt.Sprintf("%s/%s/%s", d, ending, dmg.name), func(t *testing.T) {
					checkNewestDamage(t, seed, d, ending == "crash", dmg)
				})
			}
		}
	}
}

func checkNewestDamage(t *testing.T, seed uint64, d inmem.Durability, crash bool, dmg newestDamage) {
	opts := &inmem.Options{Durability: d, SegmentSize: 8 << 10}
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	w := newWorkload(seed)
	w.valueSize = 100
	w.run(t, db, 300)
	if crash {
		mem = crashed(t, db, mem)
	} else if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	nums := segments(t, mem)
	if len(nums) < 3 {
		t.Fatalf("only %d segments", len(nums))
	}
	path := segPath(nums[len(nums)-1])
	data, _ := vfs.ReadFile(mem, path)
	prev, _ := vfs.ReadFile(mem, segPath(nums[len(nums)-2]))
	prevRecs, rs := walRecords(t, prev), walRecords(t, data)
	durable := inmem.Version(prevRecs[len(prevRecs)-1].txn) // the rotation's durable end
	refusedAt, validEnd := dmg.damage(t, mem, path, rs)
	kept := durable // the last txn left before the damage
	for _, r := range rs {
		if r.off+r.size <= validEnd {
			kept = inmem.Version(r.txn)
		}
	}
	if crash && !dmg.crashAlso {
		db := openMem(t, mem, opts)
		defer db.Close()
		if got := db.LastVersion(); got != kept || got < durable {
			t.Fatalf("after a crash recovered up to v%d, want the v%d left before the cut (at least v%d)", got, kept, durable)
		}
		checkAt(t, db, w.m, kept, "torn tail after a crash")
		return
	}
	checkRefused(t, mem, opts, path, refusedAt)
	checkRepair(t, mem, opts, w.m, kept)
}

// checkRefused: Open, Verify and Inspect all refuse the damage, naming the
// segment and offset, and nothing on disk changes.
func checkRefused(t *testing.T, mem *vfs.MemFS, opts *inmem.Options, path string, off int64) {
	t.Helper()
	before := files(t, mem, testDir)
	o := *opts
	o.FS = mem
	_, err := inmem.Open(testDir, &o)
	checkCorruptAt(t, "Open", err, path, off)
	_, err = inmem.Verify(testDir, &o)
	checkCorruptAt(t, "Verify", err, path, off)
	r, err := inmem.Inspect(testDir, &o)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	checkCorruptAt(t, "Inspect", r.Corruption, path, off)
	if r.Tail.State != inmem.TailCorrupt {
		t.Errorf("Inspect tail %v, want corrupt", r.Tail)
	}
	if err := sameFiles(before, files(t, mem, testDir)); err != nil {
		t.Fatalf("a refusal changed the disk: %v", err)
	}
}

func checkCorruptAt(t *testing.T, what string, err error, path string, off int64) {
	t.Helper()
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, inmem.ErrCorrupt) {
		t.Fatalf("%s = %v, want a *CorruptionError", what, err)
	}
	if ce.File != path || ce.Offset != off {
		t.Fatalf("%s: corruption in %s at %d, want %s at %d (%v)", what, ce.File, ce.Offset, path, off, err)
	}
}

// checkRepair: point-in-time recovery opens the valid prefix, reports the
// damage, writes a note into lost+found, and the database opens normally
// (strict) afterwards, holding the same prefix.
func checkRepair(t *testing.T, mem *vfs.MemFS, opts *inmem.Options, m *crashtest.ReferenceModel, kept inmem.Version) {
	t.Helper()
	o := *opts
	o.Recovery = inmem.RecoverPointInTime
	db := openMem(t, mem, &o)
	rep := db.Recovery()
	if rep.Dropped == nil || rep.Dropped.Damage == nil {
		t.Fatalf("repair reported no damage: %+v", rep)
	}
	checkAt(t, db, m, kept, "point-in-time recovery")
	if _, err := db.CreateRun("after-repair"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	notes := 0
	for p := range files(t, mem, filepath.Join(testDir, inmem.LostFoundName)) {
		if strings.Contains(p, "NOTE-") {
			notes++
		}
	}
	if notes == 0 {
		t.Errorf("lost+found holds no note")
	}
	db = openMem(t, mem, opts)
	defer db.Close()
	if db.LastVersion() != kept+1 {
		t.Fatalf("strict reopen after the repair: v%d, want v%d", db.LastVersion(), kept+1)
	}
}

// TestDB_LogEndUpdate_Crash loses power at every hit of DuringLogEndUpdate
// (the MANIFEST recording a new durable end of the log: at each rotation,
// at a clean Close, and at the end of a recovery after a crash) under the
// drop, keep and random policies. Every crash state recovers, holding at
// least every commit acknowledged before the crash, and a prefix of the
// history; a second recovery gives the same state.
func TestDB_LogEndUpdate_Crash(t *testing.T) {
	seed := testSeed(t)
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(d.String(), func(t *testing.T) {
			for hit := uint64(1); ; hit++ {
				if !crashAtLogEndUpdate(t, seed, d, hit) {
					if hit < 5 {
						t.Fatalf("DuringLogEndUpdate was hit only %d times", hit-1)
					}
					t.Logf("crashed at each of %d hits", hit-1)
					return
				}
			}
		})
	}
}

// crashAtLogEndUpdate runs a workload (rotations, then a Close, then a
// crash and the recovery after it) and crashes at the hit-th update of the
// log end. It reports whether the hit was reached.
func crashAtLogEndUpdate(t *testing.T, seed uint64, d inmem.Durability, hit uint64) bool {
	policies := []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}}
	for i := range 3 {
		policies = append(policies, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + hit<<8 + uint64(i)})
	}
	cps := crashpoint.New()
	opts := &inmem.Options{Durability: d, SegmentSize: 8 << 10, CrashPoints: cps}
	mem := vfs.NewMemFS()
	var (
		db       *inmem.DB
		clones   []*vfs.MemFS
		promised inmem.Version
	)
	cps.Arm(crashpoint.OnHit(crashpoint.DuringLogEndUpdate, hit), func(crashpoint.Point) {
		for _, p := range policies {
			clones = append(clones, mem.Crash(p))
		}
		if db != nil {
			promised = db.LastVersion()
		}
	})
	db = openMem(t, mem, opts)
	w := newWorkload(seed)
	w.valueSize = 100
	w.run(t, db, 150)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if clones == nil { // then the recovery after a crash
		db = openMem(t, mem, &inmem.Options{Durability: d, SegmentSize: 8 << 10})
		w.run(t, db, 5)
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
		promised = db.LastVersion()
		mem, db = crashed(t, db, mem), nil
		openMem(t, mem, opts).Close()
	}
	if clones == nil {
		return false
	}
	for i, c := range clones {
		what := fmt.Sprintf("hit %d under %v (promised v%d)", hit, policies[i], promised)
		checkCrashState(t, c, opts.Durability, w.m, promised, what)
	}
	return true
}

func checkCrashState(t *testing.T, c *vfs.MemFS, d inmem.Durability, m *crashtest.ReferenceModel, promised inmem.Version, what string) {
	t.Helper()
	var got inmem.Version
	for i := range 2 {
		db, err := inmem.Open(testDir, &inmem.Options{Durability: d, SegmentSize: 8 << 10, FS: c})
		if err != nil {
			t.Fatalf("%s: recovery %d: %v", what, i+1, err)
		}
		if i == 1 && db.LastVersion() != got {
			t.Fatalf("%s: a second recovery gives v%d, the first v%d", what, db.LastVersion(), got)
		}
		got = db.LastVersion()
		if got < promised || got > m.Latest() {
			t.Fatalf("%s: recovered v%d", what, got)
		}
		checkPrefix(t, db, m, what)
		db.Close()
	}
}

// TestDB_RotationDuringCompaction: rotations record the log end in the
// MANIFEST while compactions run; a compaction must not remove the
// MANIFEST.tmp a rotation is writing (it once did, failing the database).
func TestDB_RotationDuringCompaction(t *testing.T) {
	seed := testSeed(t)
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(d.String(), func(t *testing.T) {
			db, _ := newTestDB(t, &inmem.Options{Durability: d, SegmentSize: 4096})
			done := make(chan error, 1)
			go func() {
				w := newWorkload(seed)
				w.valueSize = 200
				done <- w.steps(db, 400)
			}()
			for {
				select {
				case err := <-done:
					if err != nil || db.Err() != nil {
						t.Fatalf("a commit failed while compactions ran: %v (%v)", err, db.Err())
					}
					return
				default:
				}
				if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
					t.Fatalf("Compact: %v", err)
				}
			}
		})
	}
}

// TestDB_Open_ManifestV1: a database whose MANIFEST is of format version 1
// (no log end) opens with everything; a read-only open leaves it as it is,
// a writable one upgrades it to version 2 recording the end of the log.
func TestDB_Open_ManifestV1(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, &inmem.Options{SegmentSize: 8 << 10})
	w := newWorkload(3)
	w.run(t, db, 200)
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	w.run(t, db, 50)
	db.Close()
	m, err := manifest.Read(mem, testDir)
	if err != nil {
		t.Fatal(err)
	}
	end := m.LogEnd
	writeFile(t, mem, filepath.Join(testDir, manifest.FileName), manifestV1(m))
	before := files(t, mem, testDir)
	ro, err := inmem.Open(testDir, &inmem.Options{FS: mem, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, ro, w.m, "read-only open of a version 1 MANIFEST")
	ro.Close()
	if err := sameFiles(before, files(t, mem, testDir)); err != nil {
		t.Fatalf("a read-only open changed the disk: %v", err)
	}
	db = openMem(t, mem, &inmem.Options{SegmentSize: 8 << 10})
	checkModel(t, db, w.m, "open of a version 1 MANIFEST")
	db.Close()
	b, _ := vfs.ReadFile(mem, filepath.Join(testDir, manifest.FileName))
	m2, err := manifest.Decode("MANIFEST", b)
	if err != nil || b[4] != manifest.FormatVersion || m2.LogEnd != end {
		t.Fatalf("after a writable open the MANIFEST is version %d with log end %+v (%v), want version 2 with %+v", b[4], m2.LogEnd, err, end)
	}
}

// manifestV1 encodes m in MANIFEST format version 1.
func manifestV1(m manifest.Manifest) []byte {
	b := []byte("IMMF")
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, m.UUID[:]...)
	for _, x := range []uint64{m.ActiveSegment, m.SnapshotID, m.Watermark} {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.CodecID)))
	b = append(b, m.CodecID...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// TestDB_Open_WALFormatV1: a log written in segment format version 1 (by
// earlier builds) opens with everything, read-only as it is; a writable
// open continues the log in a new segment of the current format, and the
// whole log, old and new, reads back after another reopen.
func TestDB_Open_WALFormatV1(t *testing.T) {
	mem := vfs.NewMemFS()
	opts := &inmem.Options{SegmentSize: 8 << 10}
	db := openMem(t, mem, opts)
	w := newWorkload(5)
	w.run(t, db, 150)
	db.Close()
	m, err := manifest.Read(mem, testDir)
	if err != nil {
		t.Fatal(err)
	}
	nums := segments(t, mem)
	for _, n := range nums {
		end := rewriteAsV1(t, mem, n)
		if n == m.LogEnd.Segment {
			m.LogEnd.Offset = end
		}
	}
	if _, err := manifest.Write(mem, testDir, m, nil, 0); err != nil {
		t.Fatal(err)
	}
	ro, err := inmem.Open(testDir, &inmem.Options{FS: mem, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, ro, w.m, "read-only open of a version 1 log")
	ro.Close()
	db = openMem(t, mem, opts)
	checkModel(t, db, w.m, "open of a version 1 log")
	if got := segments(t, mem); got[len(got)-1] != nums[len(nums)-1]+1 {
		t.Fatalf("segments %v after the open, want a new one after %v", got, nums)
	}
	w.run(t, db, 50)
	db.Close()
	db = openMem(t, mem, opts)
	defer db.Close()
	checkModel(t, db, w.m, "reopen after writes on a version 1 log")
}

// rewriteAsV1 rewrites segment n in format version 1 (each record claiming
// only its header synced) and returns the end of its records.
func rewriteAsV1(t *testing.T, mem *vfs.MemFS, n uint64) int64 {
	t.Helper()
	data, err := vfs.ReadFile(mem, segPath(n))
	if err != nil {
		t.Fatal(err)
	}
	var uuid [16]byte
	copy(uuid[:], data[16:32])
	out := wal.AppendHeaderV1(nil, n, uuid)
	for _, r := range walRecords(t, data) {
		rec, _, err := wal.DecodeRecord(data[r.off:], r.off, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		out = wal.AppendRecordV1(out, rec.Txn, rec.TS, wal.HeaderSize, rec.Payload)
	}
	writeFile(t, mem, segPath(n), out)
	return int64(len(out))
}
