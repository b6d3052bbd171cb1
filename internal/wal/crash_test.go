package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// TestWriter_CrashAtEveryOp is the exhaustive loop of STYLE.md section 7
// for the log alone: a seeded workload of commits (rotating through small
// segments) runs again and again, and run i takes a power-loss clone, under
// the drop, keep and random policies, just before its i-th filesystem
// operation. Every clone must scan with no damage or a torn tail only, and
// hold a prefix of the commits that contains every one the mode promised:
// Strict, each acknowledged commit; Buffered, each commit acknowledged
// before the last completed Sync.
func TestWriter_CrashAtEveryOp(t *testing.T) {
	seed := testSeed(t)
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			for i := 0; ; i++ {
				if !crashRun(t, seed, strict, i) {
					if i < 50 {
						t.Fatalf("the workload made only %d operations", i)
					}
					t.Logf("crashed before each of %d operations", i)
					return
				}
			}
		})
	}
}

// crashRun runs the workload with a crash clone before operation i and
// checks every clone. It reports whether operation i was reached.
func crashRun(t *testing.T, seed uint64, strict bool, i int) bool {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	policies := []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}}
	for j := range uint64(6) {
		policies = append(policies, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed ^ uint64(i)<<8 ^ j})
	}
	var (
		env     *writerEnv
		clones  []*vfs.MemFS
		acked   uint64 // highest commit whose Wait returned
		durable uint64 // highest commit the mode promises survives a power loss
		written uint64 // highest commit appended
		atCrash [3]uint64
	)
	n := 0
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if env == nil {
			return nil // the Writer's setup
		}
		if n == i {
			for _, p := range policies {
				clones = append(clones, env.mem.Crash(p))
			}
			atCrash = [3]uint64{acked, durable, written}
		}
		n++
		return nil
	})
	segSize := int64(HeaderSize + 3*(RecordOverhead+payloadSize))
	env = newWriterEnv(t, inj, segSize, strict, nil)
	for txn := uint64(1); txn <= 25; txn++ {
		written = txn
		if err := env.w.Append(txn, int64(txn)*1000, testPayload(txn)); err != nil {
			t.Fatal(err)
		}
		if err := env.w.Wait(txn); err != nil {
			t.Fatal(err)
		}
		acked = txn
		if strict {
			durable = txn
		} else if rng.IntN(4) == 0 {
			if err := env.w.Sync(); err != nil {
				t.Fatal(err)
			}
			durable = txn
		}
	}
	if clones == nil {
		return false
	}
	for j, c := range clones {
		what := fmt.Sprintf("crash before op %d under %v (acked %d, promised %d, appended %d; seed %d)",
			i, policies[j], atCrash[0], atCrash[1], atCrash[2], seed)
		checkCrashClone(t, c, what, atCrash[1], atCrash[2])
	}
	return true
}

func checkCrashClone(t *testing.T, c *vfs.MemFS, what string, promised, appended uint64) {
	t.Helper()
	var last uint64
	res, err := Scan(ScanOptions{FS: c, Dir: testDir, UUID: testUUID, MaxRecordSize: testMaxLen, FirstSegment: 1,
		Apply: func(_ uint64, _ int64, r Record) error {
			last = r.Txn
			return nil
		}})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d := res.Damage; d != nil && !d.Torn {
		t.Fatalf("%s: corruption %+v", what, d)
	}
	if last < promised || last > appended {
		t.Fatalf("%s: recovered commits 1..%d", what, last)
	}
}
