package ioerr_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/ioerr"
	"github.com/in-mem/inmem/internal/plant"
)

// TestErrorSweep injects EIO, ENOSPC, a short write or a failed fsync at
// every operation that changes the disk, in turn, over a workload that
// commits, rotates segments, checkpoints (snapshot and MANIFEST) and
// compacts.
func TestErrorSweep(t *testing.T) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(d.String(), func(t *testing.T) {
			res, err := ioerr.Sweep(ioerr.Config{
				Workload:   crashtest.WorkloadConfig{Seed: 5, Ops: 70},
				Durability: d,
				Options:    inmem.Options{SegmentSize: 4096},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d changing operations, %d runs, %d surfaced, %d fail-stops, %d acked checks, %v",
				res.FSOps, res.Runs, res.Surfaced, res.FailStops, res.AckedKept, res.Duration)
			for _, v := range res.Violations[:min(5, len(res.Violations))] {
				t.Errorf("%s", v)
			}
			if res.Runs < res.FSOps {
				t.Fatalf("only %d runs for %d operations", res.Runs, res.FSOps)
			}
		})
	}
}

func TestErrorSweep_CatchesIgnoredSyncError(t *testing.T) {
	res, err := ioerr.Sweep(ioerr.Config{
		Workload:   crashtest.WorkloadConfig{Seed: 6, Ops: 40},
		Durability: inmem.Strict,
		Errors:     []string{"fsync"},
		Plant:      mustBug(t, "swallow-sync-errors"),
		Options:    inmem.Options{SegmentSize: 4096},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) == 0 {
		t.Fatalf("%d runs with ignored fsync errors and no violation", res.Runs)
	}
	t.Logf("%d of %d runs violate; first: %s", len(res.Violations), res.Runs, res.Violations[0])
}

func mustBug(t *testing.T, name string) plant.Bug {
	t.Helper()
	b, err := plant.Named(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
