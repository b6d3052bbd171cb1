package proc_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

func killConfig(seed uint64) proc.ProcessCrashConfig {
	return proc.ProcessCrashConfig{
		MinRuntime: 20 * time.Millisecond,
		MaxRuntime: 120 * time.Millisecond,
		Seed:       seed,
		Durability: inmem.Strict,
		Env:        []string{proc.ChildEnv + "=1"},
	}
}

// TestProcessCrashTester_ShortCampaign: real SIGKILL, SIGABRT and SIGSEGV
// at random times and random whitebox crash points, 20 consecutive crashes
// on one directory, each judged against the model.
func TestProcessCrashTester_ShortCampaign(t *testing.T) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(d.String(), func(t *testing.T) {
			cfg := killConfig(11)
			cfg.Durability = d
			cfg.Iterations = 10
			cfg.Signals = []syscall.Signal{syscall.SIGKILL, syscall.SIGABRT, syscall.SIGSEGV}
			cfg.SegmentSize = 8 << 10
			tester := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg)
			res, err := tester.Run()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Results {
				if !r.RecoverySucceeded {
					t.Errorf("%s", r)
				} else {
					t.Logf("%s", r)
				}
			}
			if res.AckedLost != 0 || !res.AllPassed() || res.AckedVerified == 0 {
				t.Fatalf("%d iterations, %d failed, %d acked verified, %d lost", res.Iterations, res.FailedRecoveries, res.AckedVerified, res.AckedLost)
			}
		})
	}
}

// TestProcessCrashTester_WhiteboxEveryPoint kills the child with a real
// SIGKILL at each crash point.
func TestProcessCrashTester_WhiteboxEveryPoint(t *testing.T) {
	for _, p := range crashtest.AllCrashPoints() {
		t.Run(p.String(), func(t *testing.T) {
			cfg := killConfig(uint64(20 + p))
			cfg.Iterations = 3
			cfg.CrashPoints = []crashtest.CrashPoint{p}
			cfg.MaxHit = 2
			cfg.MaxRuntime = 2 * time.Second
			cfg.MinRuntime = cfg.MaxRuntime
			cfg.SegmentSize = 4096
			res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
			if err != nil {
				t.Fatal(err)
			}
			fired := 0
			for _, r := range res.Results {
				if !r.RecoverySucceeded {
					t.Errorf("%s", r)
				}
				if r.CrashPoint == p.String() {
					fired++
				}
			}
			if fired == 0 {
				t.Fatalf("no iteration was killed at %s: %v", p, res.Results)
			}
		})
	}
}

// TestProcessCrashTester_DetectsLoss runs the child in InMemory mode while
// expecting Strict's promise: the tester must report lost acknowledged ops.
func TestProcessCrashTester_DetectsLoss(t *testing.T) {
	cfg := killConfig(31)
	cfg.Iterations = 2
	cfg.Durability = inmem.InMemory
	strict := inmem.Strict
	cfg.Expect = &strict
	res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.AllPassed() || res.AckedLost == 0 {
		t.Fatalf("an InMemory child passed as Strict: %d lost, %d failed", res.AckedLost, res.FailedRecoveries)
	}
	t.Logf("detected: %d acknowledged ops lost, first: %s", res.AckedLost, res.Results[0])
}

// TestProcessCrashTester_ReopenCycles: in-mem's own child closes the
// database cleanly and opens it again every 15 operations (the Lifecycle
// mechanism, "L close"/"L open" on the pipe) while it is killed again and
// again: every recovery judged, every reopen checked to lose nothing.
func TestProcessCrashTester_ReopenCycles(t *testing.T) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(d.String(), func(t *testing.T) {
			cfg := killConfig(57)
			cfg.Durability, cfg.Iterations, cfg.ReopenEvery = d, 4, 15
			res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Results {
				if !r.RecoverySucceeded {
					t.Errorf("%s", r)
				}
			}
			if !res.AllPassed() || res.AckedVerified == 0 {
				t.Fatalf("%d iterations, %d failed, %d verified", res.Iterations, res.FailedRecoveries, res.AckedVerified)
			}
		})
	}
}
