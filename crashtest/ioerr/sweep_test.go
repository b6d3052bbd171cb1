package ioerr_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/ioerr"
	"github.com/in-mem/inmem/vfs"
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

// swallowSyncFS hides failed syncs from the engine: the classic bug of
// ignoring an fsync error.
type swallowSyncFS struct{ vfs.FS }

func (s swallowSyncFS) Create(name string) (vfs.File, error) { return swallow(s.FS.Create(name)) }
func (s swallowSyncFS) OpenAppend(name string) (vfs.File, error) {
	return swallow(s.FS.OpenAppend(name))
}

func swallow(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return swallowFile{f}, nil
}

type swallowFile struct{ vfs.File }

func (f swallowFile) Sync() error {
	f.File.Sync()
	return nil
}

func TestErrorSweep_CatchesIgnoredSyncError(t *testing.T) {
	res, err := ioerr.Sweep(ioerr.Config{
		Workload:   crashtest.WorkloadConfig{Seed: 6, Ops: 40},
		Durability: inmem.Strict,
		Errors:     []string{"fsync"},
		WrapFS:     func(fs vfs.FS) vfs.FS { return swallowSyncFS{fs} },
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
