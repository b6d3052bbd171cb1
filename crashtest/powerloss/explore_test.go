package powerloss_test

import (
	"sync/atomic"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/powerloss"
	"github.com/in-mem/inmem/vfs"
)

func TestExplore_StrictMixedWorkload(t *testing.T) {
	cfg := powerloss.Config{
		Workload:   crashtest.WorkloadConfig{Seed: 1, Ops: 200},
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
		Workload:   crashtest.WorkloadConfig{Seed: 2, Ops: 200},
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

func TestExplore_EveryOperation(t *testing.T) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		res, err := powerloss.Explore(powerloss.Config{
			Workload:       crashtest.WorkloadConfig{Seed: 3, Ops: 70},
			Durability:     d,
			EveryOperation: true,
			Options:        inmem.Options{SegmentSize: 4096},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.CrashPoints < res.FSOps {
			t.Fatalf("%d crash points for %d filesystem operations", res.CrashPoints, res.FSOps)
		}
		t.Logf("%s: %d states at %d crash points", d, res.States, res.CrashPoints)
		for _, v := range res.Violations[:min(3, len(res.Violations))] {
			t.Errorf("violation: %s", v)
		}
	}
}

// noSyncFS acknowledges every file sync without making anything durable.
type noSyncFS struct{ vfs.FS }

func (n noSyncFS) Create(name string) (vfs.File, error) { return noSync(n.FS.Create(name)) }
func (n noSyncFS) OpenAppend(name string) (vfs.File, error) {
	return noSync(n.FS.OpenAppend(name))
}

func noSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error { return nil }

// noDirSyncAfterCreateFS skips the first directory sync after each file
// creation: the new file's entry is never made durable.
type noDirSyncAfterCreateFS struct {
	vfs.FS
	created *atomic.Bool
}

func (n noDirSyncAfterCreateFS) Create(name string) (vfs.File, error) {
	n.created.Store(true)
	return n.FS.Create(name)
}

func (n noDirSyncAfterCreateFS) OpenDir(name string) (vfs.File, error) {
	f, err := n.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return skipSyncDir{File: f, created: n.created}, nil
}

type skipSyncDir struct {
	vfs.File
	created *atomic.Bool
}

func (d skipSyncDir) Sync() error {
	if d.created.CompareAndSwap(true, false) {
		return nil
	}
	return d.File.Sync()
}

func TestExplore_CatchesBrokenSync(t *testing.T) {
	tcs := []struct {
		name string
		wrap func(vfs.FS) vfs.FS
	}{
		{"file sync does nothing", func(fs vfs.FS) vfs.FS { return noSyncFS{fs} }},
		{"directory sync dropped after create", func(fs vfs.FS) vfs.FS {
			return noDirSyncAfterCreateFS{FS: fs, created: new(atomic.Bool)}
		}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			res, err := powerloss.Explore(powerloss.Config{
				Workload:   crashtest.WorkloadConfig{Seed: 4, Ops: 120},
				Durability: inmem.Strict,
				Policies:   []vfs.CrashMode{vfs.DropUnsynced},
				WrapFS:     tc.wrap,
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
