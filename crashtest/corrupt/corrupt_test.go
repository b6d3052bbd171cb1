package corrupt_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/corrupt"
)

var prefixOnly = crashtest.Promise{Durability: inmem.InMemory, Crash: crashtest.PowerLoss}

// buildDB writes ops transactions over three runs into a new database in
// dir (4 KiB segments, so there are several) and returns the model. With
// crashed, dir holds the files as a killed process leaves them (copied
// while the database was open); otherwise the database was closed cleanly.
func buildDB(t *testing.T, dir string, ops int, checkpoint, crashed bool) *crashtest.ReferenceModel {
	t.Helper()
	live := dir
	if crashed {
		live = filepath.Join(t.TempDir(), "live")
	}
	db, err := inmem.Open(live, &inmem.Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	for i := 0; i < ops; i++ {
		run := fmt.Sprintf("run-%d", i%3)
		key := fmt.Sprintf("key-%d", i%17)
		var err error
		switch i % 4 {
		case 0, 1:
			err = r.KVPut(run, key, crashtest.UniqueValue(run, key, i, 100))
		case 2:
			err = r.EventAppend(run, crashtest.UniqueValue(run, "ev", i, 60))
		case 3:
			err = r.Update(crashtest.Set(run, "cell", crashtest.UniqueValue(run, "cell", i, 40)),
				crashtest.Put(run, key+"-tx", crashtest.UniqueValue(run, key+"-tx", i, 30)))
		}
		if err != nil {
			t.Fatal(err)
		}
		if checkpoint && i == ops/2 {
			if err := r.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(r.Mismatches()) > 0 {
		t.Fatal(r.Mismatches())
	}
	if crashed {
		if err := os.CopyFS(dir, os.DirFS(live)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

// hashTree returns a digest of every file under dir.
func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "LOCK" {
			b, _ := os.ReadFile(p)
			out[p] = sha256.Sum256(b)
		}
		return err
	})
	return out
}

// records returns the end offsets of the records of a segment, walking the
// documented layout (a 32-byte header, then records that start with their
// length, u32 little-endian, of everything after it).
func records(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for off := int64(32); off+4 <= int64(len(data)); {
		off += 4 + int64(binary.LittleEndian.Uint32(data[off:]))
		if off > int64(len(data)) {
			break
		}
		ends = append(ends, off)
	}
	return ends
}

// txnAt returns the txn id of the record at off (after its length and
// format version and segment number).
func txnAt(data []byte, off int64) inmem.Version {
	return inmem.Version(binary.LittleEndian.Uint64(data[off+13:]))
}

// openAndJudge reopens dir and judges it as a prefix of the history.
func openAndJudge(t *testing.T, dir string, m *crashtest.ReferenceModel, opts *inmem.Options) (*inmem.DB, crashtest.Verdict) {
	t.Helper()
	db, err := inmem.Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	v := m.Judge(db, prefixOnly)
	if len(v.Mismatches) > 0 {
		t.Fatalf("recovered state is not a prefix of the history: %v", v.Mismatches)
	}
	return db, v
}

// TestWALCorruptionTester_TailDamage damages the end of the newest segment
// of a database a process crash left: a torn tail, cut exactly before the
// damaged record. After a clean close the same damage is refused.
func TestWALCorruptionTester_TailDamage(t *testing.T) {
	tcs := []struct {
		name    string
		damage  func(*corrupt.WALCorruptionTester, int64) error
		lostOne bool // the last record is lost
	}{
		{"truncate", func(w *corrupt.WALCorruptionTester, _ int64) error { return w.TruncateWALTail(7) }, true},
		{"garbage", func(w *corrupt.WALCorruptionTester, _ int64) error {
			return w.AppendGarbage([]byte("GARBAGE_DATA_HERE\xff\x01\x02"))
		}, false},
		{"partial-record", func(w *corrupt.WALCorruptionTester, _ int64) error { return w.CreatePartialRecord() }, false},
		{"zero-fill", func(w *corrupt.WALCorruptionTester, _ int64) error { return w.ZeroFillTail(5) }, true},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			m := buildDB(t, dir, 60, false, true)
			w := corrupt.NewWALCorruptionTester(dir)
			segs, _ := w.Segments()
			last := w.SegmentPath(segs[len(segs)-1])
			before, _ := os.Stat(last)
			if err := tc.damage(w, before.Size()); err != nil {
				t.Fatal(err)
			}
			res, err := w.VerifyRecoveryAfterCorruption()
			if err != nil || !res.Recovered {
				t.Fatalf("tail damage was not recovered: %v %v", err, res.Err)
			}
			want := m.Latest()
			if tc.lostOne {
				want--
			}
			if res.LastVersion != want || res.BytesTruncated == 0 {
				t.Fatalf("recovered v%d (truncated %d bytes), want exactly v%d", res.LastVersion, res.BytesTruncated, want)
			}
			db, _ := openAndJudge(t, dir, m, nil)
			m.Settle(db.LastVersion())
			// Later writes work and survive another reopen.
			r := crashtest.NewRunner(db, m)
			if err := r.KVPut("run-0", "after-repair", []byte("new")); err != nil {
				t.Fatal(err)
			}
			db.Close()
			db, v := openAndJudge(t, dir, m, nil)
			defer db.Close()
			if v.Recovered != m.Latest() {
				t.Fatalf("the write after recovery was lost: v%d, want v%d", v.Recovered, m.Latest())
			}
		})
	}
}

func TestWALCorruptionTester_RefusedDamage(t *testing.T) {
	tcs := []struct {
		name   string
		damage func(t *testing.T, w *corrupt.WALCorruptionTester, dir string) (file string, off int64)
	}{
		{"segment-header", func(t *testing.T, w *corrupt.WALCorruptionTester, _ string) (string, int64) {
			segs, _ := w.Segments()
			mid := segs[len(segs)/2]
			must(t, w.CorruptSegmentHeader(mid))
			return w.SegmentPath(mid), 0
		}},
		{"missing-segment", func(t *testing.T, w *corrupt.WALCorruptionTester, _ string) (string, int64) {
			segs, _ := w.Segments()
			mid := segs[len(segs)/2]
			must(t, w.RemoveSegment(mid))
			return w.SegmentPath(mid), -1
		}},
		{"manifest", func(t *testing.T, w *corrupt.WALCorruptionTester, dir string) (string, int64) {
			must(t, w.CorruptManifest())
			return filepath.Join(dir, "MANIFEST"), -2
		}},
		{"snapshot", func(t *testing.T, w *corrupt.WALCorruptionTester, dir string) (string, int64) {
			must(t, w.CorruptSnapshot())
			return filepath.Join(dir, "SNAPSHOTS", "snap-000001.chk"), -2
		}},
		{"middle-record", func(t *testing.T, w *corrupt.WALCorruptionTester, _ string) (string, int64) {
			segs, _ := w.Segments()
			mid := w.SegmentPath(segs[len(segs)/2])
			ends := records(t, mid)
			off := ends[1] // the third record starts here
			must(t, flipAt(mid, off+20))
			return mid, off
		}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			buildDB(t, dir, 120, tc.name == "snapshot", false)
			w := corrupt.NewWALCorruptionTester(dir)
			file, off := tc.damage(t, w, dir)
			before := hashTree(t, dir)
			res, err := w.VerifyRecoveryAfterCorruption()
			if err != nil {
				t.Fatal(err)
			}
			var ce *inmem.CorruptionError
			if res.Recovered || !errors.As(res.Err, &ce) || !errors.Is(res.Err, inmem.ErrCorrupt) {
				t.Fatalf("damage was not refused as corruption: %+v", res)
			}
			if ce.File != file || (off != -2 && ce.Offset != off) {
				t.Fatalf("corruption names %s at %d, want %s at %d", ce.File, ce.Offset, file, off)
			}
			after := hashTree(t, dir)
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatal("a refused recovery changed files on disk")
			}
			t.Log(res.Err)
		})
	}
}

func flipAt(path string, off int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[off] ^= 0x10
	return os.WriteFile(path, b, 0o644)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWALCorruptionTester_PointInTime opens the valid prefix up to a damaged
// middle record, keeping everything it cut in lost+found.
func TestWALCorruptionTester_PointInTime(t *testing.T) {
	dir := t.TempDir()
	m := buildDB(t, dir, 120, false, false)
	w := corrupt.NewWALCorruptionTester(dir)
	segs, _ := w.Segments()
	mid := w.SegmentPath(segs[1])
	ends := records(t, mid)
	original, _ := os.ReadFile(mid)
	must(t, flipAt(mid, ends[2]+17)) // the txn id of the fourth record
	data, _ := os.ReadFile(mid)
	// The prefix ends with the third record of segment 2.
	prefixEnd, want := ends[2], txnAt(original, ends[1])
	db, v := openAndJudge(t, dir, m, &inmem.Options{Recovery: inmem.RecoverPointInTime})
	defer db.Close()
	if v.Recovered != want {
		t.Fatalf("point-in-time recovery kept up to v%d, want exactly v%d", v.Recovered, want)
	}
	rep := db.Recovery()
	if rep.Dropped == nil || rep.Dropped.CutAt != prefixEnd || len(rep.Dropped.Segments) != len(segs)-2 {
		t.Fatalf("dropped report %+v, want cut at %d and %d later segments", rep.Dropped, prefixEnd, len(segs)-2)
	}
	lost, _ := os.ReadDir(filepath.Join(dir, "lost+found"))
	var names []string
	for _, e := range lost {
		names = append(names, e.Name())
	}
	joined := strings.Join(names, " ")
	if !strings.Contains(joined, "NOTE-") || !strings.Contains(joined, filepath.Base(mid)) || len(names) != len(segs)-2+2 {
		t.Fatalf("lost+found holds %v", names)
	}
	// The copy of the damaged segment is the original, byte for byte.
	for _, n := range names {
		if strings.HasPrefix(n, filepath.Base(mid)) {
			got, _ := os.ReadFile(filepath.Join(dir, "lost+found", n))
			if string(got) != string(data) {
				t.Fatal("lost+found does not hold the original damaged segment")
			}
		}
	}
}

// TestWALCorruptionTester_RandomBitFlips: whatever the flips, recovery of
// a crashed database either refuses or serves a prefix of the history,
// never a value no commit wrote. (The exact outcome of every damage is
// TestRunCorruptionCase's.)
func TestWALCorruptionTester_RandomBitFlips(t *testing.T) {
	base := filepath.Join(t.TempDir(), "db")
	m := buildDB(t, base, 80, false, true)
	refused, opened := 0, 0
	for seed := uint64(1); seed <= 150; seed++ {
		dir := filepath.Join(t.TempDir(), "db")
		if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
			t.Fatal(err)
		}
		w := corrupt.NewWALCorruptionTester(dir)
		flips, err := w.CorruptRandomBytes(1+int(seed%3), seed)
		if err != nil {
			t.Fatal(err)
		}
		db, err := inmem.Open(dir, nil)
		if err != nil {
			if !errors.Is(err, inmem.ErrCorrupt) {
				t.Fatalf("seed %d (flips %v): open failed with a non-corruption error: %v", seed, flips, err)
			}
			refused++
			continue
		}
		opened++
		if v := m.Judge(db, prefixOnly); len(v.Mismatches) > 0 {
			t.Fatalf("seed %d (flips %v): recovered state is not a prefix: %v\nreproduce: go test ./crashtest -run RandomBitFlips", seed, flips, v.Mismatches)
		}
		db.Close()
	}
	t.Logf("150 seeds: %d refused as corruption, %d opened as a prefix", refused, opened)
	if refused == 0 {
		t.Fatal("no flip was refused: flips of durable records must be")
	}
}

// TestWALCorruptionTester_TailDamageAfterCleanClose: a clean close records
// the exact end of the log, so the same tail damage now hit durable bytes
// and is refused, naming the newest segment.
func TestWALCorruptionTester_TailDamageAfterCleanClose(t *testing.T) {
	for _, name := range []string{"truncate", "zero-fill"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			buildDB(t, dir, 60, false, false)
			w := corrupt.NewWALCorruptionTester(dir)
			if name == "truncate" {
				must(t, w.TruncateWALTail(7))
			} else {
				must(t, w.ZeroFillTail(5))
			}
			segs, _ := w.Segments()
			res, err := w.VerifyRecoveryAfterCorruption()
			var ce *inmem.CorruptionError
			if err != nil || res.Recovered || !errors.As(res.Err, &ce) || ce.File != w.SegmentPath(segs[len(segs)-1]) {
				t.Fatalf("tail damage after a clean close: %v %+v", err, res)
			}
		})
	}
}
