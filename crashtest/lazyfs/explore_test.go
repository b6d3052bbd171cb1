package lazyfs_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/internal/testutil"
)

// child is this test binary as the workload child, with bug planted ("":
// none).
func child(bug string) crashtest.Child {
	env := []string{proc.ChildEnv + "=1"}
	if bug != "" {
		env = append(env, plantEnv+"="+bug)
	}
	return crashtest.Child{Binary: os.Args[0], Env: env}
}

func needFUSE(t testing.TB) {
	t.Helper()
	if err := lazyfs.Available(); err != nil {
		t.Skipf("skipping: the lazy explorer needs FUSE: %v", err)
	}
}

// TestExplore_Safe: in-mem as shipped keeps every promise in every crash
// state, in both durability modes.
func TestExplore_Safe(t *testing.T) {
	needFUSE(t)
	seed := testutil.Seed(t, "./crashtest/lazyfs")
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		res, err := lazyfs.Explore(lazyfs.Config{Child: child(""), Seed: seed, Durability: d, Ops: 32, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d operations (%d syncs), %d points, %d states, %v per state, recording %v", d, res.Changes, res.Syncs,
			res.Points, res.States, res.MeanStateTime(), res.RecordTime)
		if res.States < 20 || res.AckedChecked == 0 {
			t.Fatalf("%s: only %d states, %d acknowledged operations checked", d, res.States, res.AckedChecked)
		}
		for _, v := range res.Violations {
			t.Errorf("%s: %s\n  reproduce: go test ./crashtest/lazyfs -run TestExplore_Safe -seed %d", d, v, seed)
		}
	}
}

// TestExplore_ExpectedLossIsSeen: a Buffered child judged by Strict's
// promise loses acknowledged commits in some drop state.
func TestExplore_ExpectedLossIsSeen(t *testing.T) {
	needFUSE(t)
	strict := inmem.Strict
	res, err := lazyfs.Explore(lazyfs.Config{Child: child(""), Seed: 3, Durability: inmem.Buffered, Expect: &strict, Ops: 32,
		Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) == 0 {
		t.Fatalf("a Buffered child judged as Strict lost nothing in %d states", res.States)
	}
}

// TestExplore_CatchesPlantedBugs: a missing directory sync after a create
// and a rename of a temporary file before its sync are each reported, and
// the reported state, rebuilt alone from its seed, at and policy, is
// reported again.
func TestExplore_CatchesPlantedBugs(t *testing.T) {
	needFUSE(t)
	for _, bug := range []string{"no-dir-sync-after-create", "no-tmp-sync"} {
		t.Run(bug, func(t *testing.T) {
			cfg := lazyfs.Config{Child: child(bug), Seed: 5, Durability: inmem.Strict, Ops: 48, Dir: t.TempDir()}
			res, err := lazyfs.Explore(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) == 0 {
				t.Fatalf("%s went unreported in %d states", bug, res.States)
			}
			v := res.Violations[0]
			t.Logf("%d of %d states broke a promise; the first:\n%s", len(res.Violations), res.States, v)
			cfg.At, cfg.Policy = &v.At, &v.Policy
			again, err := lazyfs.Explore(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if again.States != 1 || len(again.Violations) != 1 {
				t.Fatalf("rebuilt alone, the state gave %d states, %d violations", again.States, len(again.Violations))
			}
		})
	}
}
