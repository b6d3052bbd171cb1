package lazyfs_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/lazyfs"
)

// BenchmarkExplore_BarriersWorkload measures crash states judged per
// second on the workload `inmem crash barriers` explores by default (64
// operations, one writer, 16 KiB segments, strict), to set beside
// package kernel's BenchmarkExploreBarriers on the same seeds:
//
//	go test -run '^$' -bench . -benchtime 3x ./crashtest/lazyfs ./crashtest/kernel
//
// states/s counts the whole exploration (recording included); ms/state is
// the time one state takes (build, write out, recover, judge).
func BenchmarkExplore_BarriersWorkload(b *testing.B) {
	needFUSE(b)
	states := 0
	var stateMs float64
	for i := 0; i < b.N; i++ {
		res, err := lazyfs.Explore(lazyfs.Config{Child: child(""), Seed: uint64(i + 1), Durability: inmem.Strict, Ops: 64,
			Dir: b.TempDir()})
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
