package powerloss_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/powerloss"
	"github.com/in-mem/inmem/internal/plant"
	"github.com/in-mem/inmem/vfs"
)

func TestExplore_StrictMixedWorkload(t *testing.T) {
	cfg := powerloss.Config{
		Workload:   crashtest.WorkloadConfig{Seed: 1, Ops: 200, Lifecycle: true},
		Durability: inmem.Strict,
		Options:    inmem.Options{SegmentSize: 4096},
	}
	res, err := powerloss.Explore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ops (%d acked), %d fs ops, %d crash points, %d states, %d acked checks, %v (recovery %v)",
		res.Ops, res.AckedOps, res.FSOps, res.CrashPoints, res.States, res.AckedChecked, res.Duration, res.RecoveryTime)
	for i, v := range res.Violations {
		if i == 3 {
			break
		}
		t.Errorf("violation: %s", v)
	}
	if len(res.Violations) > 0 {
		t.Fatalf("%d violations", len(res.Violations))
	}
}

func TestExplore_BufferedMixedWorkload(t *testing.T) {
	res, err := powerloss.Explore(powerloss.Config{
		Workload:   crashtest.WorkloadConfig{Seed: 2, Ops: 200, Lifecycle: true},
		Durability: inmem.Buffered,
		Options:    inmem.Options{SegmentSize: 4096},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d states, %d crash points, %d acked checks", res.States, res.CrashPoints, res.AckedChecked)
	for _, v := range res.Violations[:min(3, len(res.Violations))] {
		t.Errorf("violation: %s", v)
	}
}

func TestExplore_CatchesBrokenSync(t *testing.T) {
	for _, name := range []string{"nosync", "no-dir-sync-after-create"} {
		t.Run(name, func(t *testing.T) {
			bug, err := plant.Named(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := powerloss.Explore(powerloss.Config{
				Workload:   crashtest.WorkloadConfig{Seed: 4, Ops: 120},
				Durability: inmem.Strict,
				Policies:   []vfs.CrashMode{vfs.DropUnsynced},
				Plant:      plant.Bug(bug),
				Options:    inmem.Options{SegmentSize: 4096},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) == 0 {
				t.Fatalf("%d states judged and no violation found", res.States)
			}
			t.Logf("%d of %d states violate; first:\n%s", len(res.Violations), res.States, res.Violations[0])
		})
	}
}
