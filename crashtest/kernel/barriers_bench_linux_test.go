package kernel_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/proc"
)

// BenchmarkExploreBarriers measures crash states judged per second by the
// block-level barrier explorer on its default workload (64 operations,
// one writer, strict), to set beside package lazyfs's
// BenchmarkExplore_BarriersWorkload on the same seeds. ms/state is the
// time one state takes (build the image, attach, mount, recover, judge,
// unmount, detach).
func BenchmarkExploreBarriers(b *testing.B) {
	if err := kernel.BarriersAvailable(); err != nil {
		b.Skipf("skipping the block-level barrier exploration: %v", err)
	}
	states := 0
	var stateMs float64
	for i := 0; i < b.N; i++ {
		res, err := kernel.ExploreBarriers(kernel.BarrierConfig{
			Child: crashtest.Child{Binary: os.Args[0], Env: []string{proc.ChildEnv + "=1"}},
			Seed:  uint64(i + 1), Durability: inmem.Strict, Ops: 64, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Violations) > 0 {
			b.Fatalf("violation: %s", res.Violations[0])
		}
		states += res.States
		stateMs += float64(res.StateTime.Microseconds()) / 1000
	}
	b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
	b.ReportMetric(stateMs/float64(states), "ms/state")
	b.ReportMetric(float64(states)/float64(b.N), "states/op")
}
