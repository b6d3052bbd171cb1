package kernel_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/proc"
)

// needBarriers skips, saying exactly what is missing, where the barrier
// explorer cannot run (not root, no loop devices, no FUSE, no mkfs.ext4).
func needBarriers(t *testing.T) {
	t.Helper()
	if err := kernel.BarriersAvailable(); err != nil {
		t.Skipf("skipping the block-level barrier exploration: %v", err)
	}
}

// TestExploreBarriers_MixedWorkload records every write and flush ext4
// sends to the device under the generator's mixed workload (every
// primitive, transactions, a flush, a checkpoint, both compactions, segment
// rotation), then mounts, recovers and judges every state a disk can be
// left in: up to each barrier, and seeded subsets of the blocks between two
// barriers. Zero violations.
func TestExploreBarriers_MixedWorkload(t *testing.T) {
	needBarriers(t)
	tcs := []struct {
		d            inmem.Durability
		writers, ops int
	}{
		{inmem.Strict, 1, 64},
		{inmem.Buffered, 1, 64},
		{inmem.Strict, 3, 32}, // group commits; the interleaving is the kernel's, not the seed's
	}
	for _, tc := range tcs {
		d := tc.d
		t.Run(fmt.Sprintf("%s/writers=%d", d, tc.writers), func(t *testing.T) {
			res, err := kernel.ExploreBarriers(kernel.BarrierConfig{
				Child: crashtest.Child{Binary: os.Args[0], Env: []string{proc.ChildEnv + "=1"}},
				Seed:  61, Durability: d, Ops: tc.ops, Writers: tc.writers, SegmentSize: 4096, RandomStates: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Violations {
				t.Errorf("%s", v)
			}
			t.Logf("%d writes (%d KiB), %d barriers, %d acknowledged ops; %d crash states in %v, %v per state; recording %v",
				res.Writes, res.BytesWritten>>10, res.Barriers, res.AckedOps, res.States, res.Duration.Round(time.Millisecond),
				res.MeanStateTime().Round(time.Millisecond), res.RecordTime.Round(time.Millisecond))
			if res.States == 0 || res.AckedChecked == 0 || res.Barriers == 0 {
				t.Fatalf("nothing explored: %+v", res)
			}
		})
	}
}

// TestExploreBarriers_DetectsLoss records a Buffered child and judges its
// crash states by Strict's promise: states between an acknowledgement and
// the next sync lose acknowledged commits, and the explorer must say so.
func TestExploreBarriers_DetectsLoss(t *testing.T) {
	needBarriers(t)
	strict := inmem.Strict
	res, err := kernel.ExploreBarriers(kernel.BarrierConfig{
		Child: crashtest.Child{Binary: os.Args[0], Env: []string{proc.ChildEnv + "=1"}},
		Seed:  67, Durability: inmem.Buffered, Expect: &strict, Ops: 40, RandomStates: -1, KeepDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) == 0 {
		t.Fatalf("Buffered passed as Strict in %d crash states", res.States)
	}
	t.Logf("detected in %d of %d states; first: %s", len(res.Violations), res.States, res.Violations[0])
	if fi, err := os.Stat(res.Violations[0].Image); err != nil || fi.Size() == 0 {
		t.Fatalf("the violating state's image was not kept: %v", err)
	}
}
