package powerloss_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/powerloss"
)

// BenchmarkExplore_1000Ops measures crash states recovered and judged per
// second for a 1,000-operation workload (target: 1,000 states/s on 2 cores).
func BenchmarkExplore_1000Ops(b *testing.B) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		b.Run(d.String(), func(b *testing.B) {
			states := 0
			for i := 0; i < b.N; i++ {
				res, err := powerloss.Explore(powerloss.Config{
					Workload:   crashtest.WorkloadConfig{Seed: uint64(i + 1), Ops: 1000},
					Durability: d,
					Options:    inmem.Options{SegmentSize: 64 << 10},
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Violations) > 0 {
					b.Fatalf("violation: %s", res.Violations[0])
				}
				states += res.States
			}
			b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
			b.ReportMetric(float64(states)/float64(b.N), "states/op")
		})
	}
}
