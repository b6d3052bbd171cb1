package lazyfs_test

import (
	"os"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/internal/testutil"
)

func liveConfig(seed uint64, d inmem.Durability, iterations int) lazyfs.LiveConfig {
	c := child("")
	return lazyfs.LiveConfig{ProcessCrashConfig: proc.ProcessCrashConfig{MinRuntime: 20 * time.Millisecond,
		MaxRuntime: 120 * time.Millisecond, Iterations: iterations, Seed: seed, Durability: d, Writers: 2, Env: c.Env}}
}

// TestLive_Safe: a child crashed again and again on one lazy mount, under
// each policy in turn, recovers every time with every promise kept.
func TestLive_Safe(t *testing.T) {
	needFUSE(t)
	seed := testutil.Seed(t, "./crashtest/lazyfs")
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		cfg := liveConfig(seed, d, 4)
		cfg.Dir = t.TempDir()
		crashes := 0
		cfg.OnCrash = func(lazyfs.Report) { crashes++ }
		res, err := lazyfs.Live(os.Args[0], cfg)
		if err != nil {
			t.Fatal(err)
		}
		if crashes != 4 || res.Iterations != 4 || res.AckedVerified == 0 {
			t.Fatalf("%s: %d crashes, %d iterations, %d acknowledged operations verified", d, crashes, res.Iterations, res.AckedVerified)
		}
		for _, r := range res.Results {
			if !r.RecoverySucceeded {
				t.Errorf("%s: %s", d, r)
			}
		}
	}
}

// TestLive_ExpectedLossIsSeen: an InMemory child judged by Strict's
// promise loses what it acknowledged, and the live crash says so.
func TestLive_ExpectedLossIsSeen(t *testing.T) {
	needFUSE(t)
	strict := inmem.Strict
	cfg := liveConfig(1, inmem.InMemory, 1)
	cfg.Expect, cfg.Dir = &strict, t.TempDir()
	res, err := lazyfs.Live(os.Args[0], cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.AllPassed() {
		t.Fatalf("an InMemory child judged as Strict lost nothing: %+v", res.Results)
	}
}
