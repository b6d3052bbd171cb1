package inmem_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// Benchmarks. Durable ones run on the real filesystem (b.TempDir) and time
// fdatasync, so compare them only with BenchmarkRawWriteSync run in the same
// session on the same disk; -benchtime=2000x keeps them short. CPU costs are
// measured on MemFS or InMemory. Figures are throughput only: nothing here
// asserts a time.

const (
	benchKeySize   = 16
	benchValueSize = 100
)

func benchKey(i int) string { return fmt.Sprintf("key-%012d", i) }

var benchValue = func() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}()

func benchOpen(b *testing.B, dir string, opts inmem.Options) (*inmem.DB, inmem.RunID) {
	b.Helper()
	db, err := inmem.Open(dir, &opts)
	if err != nil {
		b.Fatal(err)
	}
	run, err := db.GetOrCreateRun("bench")
	if err != nil {
		b.Fatal(err)
	}
	return db, run
}

func reportRate(b *testing.B, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}

// cpuMeter reports the process CPU time per op (all threads, GC included)
// next to the wall time: on a shared machine the wall time also counts
// the time other processes held the CPU.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
}

func meterCPU(b *testing.B) *cpuMeter { return &cpuMeter{b: b, start: cpuTime()} }

func (m *cpuMeter) report() {
	if used := cpuTime() - m.start; used > 0 {
		m.b.ReportMetric(float64(used.Nanoseconds())/float64(m.b.N), "cpu-ns/op")
	}
}

// BenchmarkRawWriteSync is the baseline for durable puts: one write of a
// record-sized buffer, then fdatasync, in a loop, on the same disk.
func BenchmarkRawWriteSync(b *testing.B) { rawLoop(b, true) }

// BenchmarkRawWrite is the baseline for Buffered puts: the write alone.
func BenchmarkRawWrite(b *testing.B) { rawLoop(b, false) }

func rawLoop(b *testing.B, sync bool) {
	f, err := vfs.OS.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := wal.AppendRecord(nil, 1, 1, 1, 0, make([]byte, benchKeySize+benchValueSize+24))
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if !sync {
			continue
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "ops/s")
}

// BenchmarkKVPut measures single-put commits with 1 and 16 writers:
// Strict and Buffered on disk, and Strict on MemFS for the CPU cost of the
// commit path without the disk.
func BenchmarkKVPut(b *testing.B) {
	cases := []struct {
		name string
		opts inmem.Options
		mem  bool
	}{
		{"strict", inmem.Options{Durability: inmem.Strict}, false},
		{"buffered", inmem.Options{Durability: inmem.Buffered}, false},
		{"memfs-strict", inmem.Options{Durability: inmem.Strict}, true},
		{"inmemory", inmem.Options{Durability: inmem.InMemory}, true},
	}
	for _, tc := range cases {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/writers=%d", tc.name, writers), func(b *testing.B) {
				opts := tc.opts
				dir := filepath.Join(b.TempDir(), "db")
				if tc.mem {
					opts.FS = vfs.NewMemFS()
				}
				db, run := benchOpen(b, dir, opts)
				defer db.Close()
				b.SetBytes(benchKeySize + benchValueSize)
				b.ResetTimer()
				cpu := meterCPU(b)
				if err := putN(db, run, b.N, writers); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu.report()
				reportRate(b, "puts/s")
			})
		}
	}
}

// putN does n single-put commits of distinct keys, split over writers
// goroutines.
func putN(db *inmem.DB, run inmem.RunID, n, writers int) error {
	keys := benchKeys()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				k := ""
				if i < len(keys) {
					k = keys[i]
				} else {
					k = benchKey(i)
				}
				if _, err := db.KVPut(run, k, benchValue); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// BenchmarkKVGet measures reads of 100,000 keys, from one goroutine and
// from GOMAXPROCS goroutines (b.RunParallel).
func BenchmarkKVGet(b *testing.B) {
	const keys = 100_000
	db, run := benchOpen(b, "", inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	fill(b, db, run, keys)
	ks := benchKeys()
	b.Run("serial", func(b *testing.B) {
		i := 0
		cpu := meterCPU(b)
		for b.Loop() {
			if _, err := db.KVGet(run, ks[i%keys]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		cpu.report()
		reportRate(b, "gets/s")
	})
	b.Run("parallel", func(b *testing.B) {
		var seed atomic.Int64
		cpu := meterCPU(b)
		defer cpu.report()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				if _, err := db.KVGet(run, ks[i%keys]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		reportRate(b, "gets/s")
	})
}

// benchKeys are the keys of the benchmarks, made on first use.
var benchKeys = sync.OnceValue(func() []string {
	ks := make([]string, 1_000_000)
	for i := range ks {
		ks[i] = benchKey(i)
	}
	return ks
})

// fill puts n keys in transactions of 1000.
func fill(b *testing.B, db *inmem.DB, run inmem.RunID, n int) {
	b.Helper()
	keys := benchKeys()
	for start := 0; start < n; start += 1000 {
		err := db.Update(func(tx *inmem.Tx) error {
			for i := start; i < min(start+1000, n); i++ {
				if err := tx.KVPut(run, keys[i], benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecovery opens a database whose log holds 1,000,000 single-put
// records (built once, in Buffered mode) on disk: scan, CRC, decode and
// replay, plus the syncs recovery does before accepting commits.
func BenchmarkRecovery(b *testing.B) {
	const records = 1_000_000
	dir := filepath.Join(b.TempDir(), "db")
	db, run := benchOpen(b, dir, inmem.Options{Durability: inmem.Buffered})
	if err := putN(db, run, records, 4); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
		cpu := meterCPU(b)
		defer cpu.report()
		for b.Loop() {
			db, err := inmem.Open(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			if r := db.Recovery(); r.Records != records+1 {
				b.Fatalf("replayed %d records", r.Records)
			}
			db.Close()
		}
		reportRate(b, "opens/s")
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkRuns creates N runs, one commit each (Buffered, on disk), then
// reopens the database, replaying the N creations. Both must cost O(N): the
// time per run (ns/run) stays flat from 5,000 to 100,000 runs.
func BenchmarkRuns(b *testing.B) {
	for _, n := range []int{5_000, 20_000, 100_000} {
		dir := filepath.Join(b.TempDir(), "db")
		b.Run(fmt.Sprintf("create/runs=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				d := fmt.Sprintf("%s-%d", dir, i)
				db, err := inmem.Open(d, &inmem.Options{Durability: inmem.Buffered})
				if err != nil {
					b.Fatal(err)
				}
				for r := range n {
					if _, err := db.CreateRun(fmt.Sprintf("run-%09d", r)); err != nil {
						b.Fatal(err)
					}
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					dir = d // the next sub-benchmark reopens the first one
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/run")
		})
		b.Run(fmt.Sprintf("reopen/runs=%d", n), func(b *testing.B) {
			for b.Loop() {
				db, err := inmem.Open(dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				if r := db.Recovery(); r.Records != n {
					b.Fatalf("replayed %d records, want %d", r.Records, n)
				}
				db.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/run")
		})
	}
}

// BenchmarkSnapshot writes a checkpoint of 1,000,000 KV entries and opens
// the database from it, on disk; MB/s counts logical bytes (keys and
// values). A database's first checkpoint sorts every key; later ones sort
// only the keys added since (none in "again"), so both are measured.
func BenchmarkSnapshot(b *testing.B) {
	const keys = 1_000_000
	b.Run(fmt.Sprintf("checkpoint-first/keys=%d", keys), func(b *testing.B) {
		benchCheckpointFirst(b, keys)
	})
	db, dir := snapshotFilled(b, keys)
	ck, err := db.Checkpoint()
	if err != nil {
		b.Fatal(err)
	}
	logical := int64(ck.Logical)
	b.Run(fmt.Sprintf("checkpoint-again/keys=%d", keys), func(b *testing.B) {
		benchCheckpointAgain(b, db, logical)
	})
	if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("open/keys=%d", keys), func(b *testing.B) {
		benchOpenSnapshot(b, dir, logical)
	})
}

// snapshotFilled is a Buffered database on disk holding keys KV entries,
// and its directory.
func snapshotFilled(b *testing.B, keys int) (*inmem.DB, string) {
	dir := filepath.Join(b.TempDir(), "db")
	db, run := benchOpen(b, dir, inmem.Options{Durability: inmem.Buffered})
	fill(b, db, run, keys)
	return db, dir
}

// benchCheckpointFirst times the first checkpoint of a fresh database of
// keys entries, which sorts every key; filling and closing are untimed.
func benchCheckpointFirst(b *testing.B, keys int) {
	var logical int64
	cpu := time.Duration(0)
	for b.Loop() {
		b.StopTimer()
		db, _ := snapshotFilled(b, keys)
		b.StartTimer()
		start := cpuTime()
		ck, err := db.Checkpoint()
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - start
		b.StopTimer()
		logical = int64(ck.Logical)
		db.Close()
		b.StartTimer()
	}
	b.SetBytes(logical)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// benchCheckpointAgain times a checkpoint of db with no key added since
// the last; the WAL-only compaction after each is untimed.
func benchCheckpointAgain(b *testing.B, db *inmem.DB, logical int64) {
	b.SetBytes(logical)
	cpu := meterCPU(b)
	defer cpu.report()
	for b.Loop() {
		if _, err := db.Checkpoint(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// benchOpenSnapshot times opening dir from its snapshot.
func benchOpenSnapshot(b *testing.B, dir string, logical int64) {
	b.SetBytes(logical)
	cpu := meterCPU(b)
	defer cpu.report()
	for b.Loop() {
		db, err := inmem.Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		if db.Recovery().SnapshotID == 0 {
			b.Fatal("opened without a snapshot")
		}
		db.Close()
	}
}

// BenchmarkCompact times compaction on disk: WAL-only after a checkpoint
// (64 covered segments of 1 MiB to remove), and full compaction trimming
// 100,000 keys of 4 versions each to KeepLast(1) (it takes a checkpoint).
func BenchmarkCompact(b *testing.B) {
	b.Run("wal-only/segments=64", func(b *testing.B) {
		db, run := benchOpen(b, filepath.Join(b.TempDir(), "db"), inmem.Options{Durability: inmem.Buffered, SegmentSize: 1 << 20})
		defer db.Close()
		for b.Loop() {
			b.StopTimer()
			fill(b, db, run, 64*(1<<20)/(benchKeySize+benchValueSize+4)/1000*1000)
			if _, err := db.Checkpoint(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if info, err := db.Compact(inmem.CompactWALOnly); err != nil || info.SegmentsRemoved < 60 {
				b.Fatalf("Compact = %+v, %v", info, err)
			}
		}
	})
	b.Run("full/keys=100000x4", func(b *testing.B) {
		db, run := benchOpen(b, filepath.Join(b.TempDir(), "db"), inmem.Options{Durability: inmem.Buffered})
		defer db.Close()
		if _, err := db.SetRetentionPolicy(run, inmem.KeepLast(1)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			b.StopTimer()
			for range 4 {
				fill(b, db, run, 100_000)
			}
			b.StartTimer()
			if info, err := db.Compact(inmem.CompactFull); err != nil || info.VersionsRemoved < 300_000 {
				b.Fatalf("Compact = %+v, %v", info, err)
			}
		}
	})
}
