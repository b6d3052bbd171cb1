package kernel_test

import (
	"os"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/proc"
)

// needKernel skips, saying exactly what is missing, where loop-mounted ext4
// is not available (not root, no loop devices, no mkfs.ext4).
func needKernel(t *testing.T) {
	t.Helper()
	if err := kernel.Available(); err != nil {
		t.Skipf("skipping the ext4 power cut: %v", err)
	}
}

func kernelConfig(seed uint64, d inmem.Durability, opts string) kernel.Config {
	return kernel.Config{
		ProcessCrashConfig: proc.ProcessCrashConfig{
			Iterations:  6,
			MinRuntime:  30 * time.Millisecond,
			MaxRuntime:  300 * time.Millisecond,
			Seed:        seed,
			Durability:  d,
			Writers:     3,
			SegmentSize: 16 << 10,
			Env:         []string{proc.ChildEnv + "=1"},
		},
		MountOptions: opts,
		ImageSize:    48 << 20,
	}
}

// TestKernelCrashTester_PowerCut cuts the power under a workload child with
// EXT4_IOC_SHUTDOWN(NOLOGFLUSH) at random moments, on ext4 mounted with the
// defaults (data=ordered) and with data=writeback. Strict must keep every
// acknowledged commit; Buffered a prefix holding every commit acknowledged
// before the last completed sync.
func TestKernelCrashTester_PowerCut(t *testing.T) {
	needKernel(t)
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		for _, opts := range []string{"", "data=writeback"} {
			t.Run(d.String()+"/"+kernel.CrashKind(opts), func(t *testing.T) {
				k := kernel.NewTester(os.Args[0], kernelConfig(41, d, opts))
				res, err := k.Run()
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
				if !res.AllPassed() || res.AckedVerified == 0 || (d == inmem.Strict && res.AckedLost != 0) {
					t.Fatalf("%d power cuts, %d failed, %d acknowledged verified, %d lost", res.Iterations, res.FailedRecoveries, res.AckedVerified, res.AckedLost)
				}
				t.Logf("%d power cuts in %v: %d acknowledged ops verified, %d acknowledged ops lost (allowed: %v)",
					res.Iterations, res.Duration.Round(time.Millisecond), res.AckedVerified, res.AckedLost, d == inmem.Buffered)
			})
		}
	}
}

// TestKernelCrashTester_DetectsLoss runs the child in Buffered mode while
// expecting Strict's promise: a real power cut loses what the page cache
// held, and the tester must say so.
func TestKernelCrashTester_DetectsLoss(t *testing.T) {
	needKernel(t)
	cfg := kernelConfig(43, inmem.Buffered, "")
	// A cut right after a flush loses nothing; over ten cuts some land
	// between a flush and the acknowledgements after it.
	cfg.Iterations = 10
	cfg.MinRuntime, cfg.MaxRuntime = 60*time.Millisecond, 90*time.Millisecond
	strict := inmem.Strict
	cfg.Expect = &strict
	res, err := kernel.NewTester(os.Args[0], cfg).Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.AllPassed() || res.AckedLost == 0 {
		t.Fatalf("Buffered passed as Strict under a power cut: %d lost, %d failed", res.AckedLost, res.FailedRecoveries)
	}
	t.Logf("detected: %d acknowledged ops lost; first failure: %s", res.AckedLost, res.Results[0])
}

// TestKernelCrashTester_Targets cuts the power under in-mem driven as a
// generic Target: Strict (power safe) must keep every acknowledged put;
// Buffered (not power safe) loses some, and the key/value judge must report
// the losses as unpromised rather than pass them silently.
func TestKernelCrashTester_Targets(t *testing.T) {
	needKernel(t)
	for _, name := range []string{"inmem", "inmem-buffered"} {
		t.Run(name, func(t *testing.T) {
			cfg := kernelConfig(47, inmem.Strict, "")
			cfg.Iterations = 4
			if name == "inmem-buffered" {
				cfg.Iterations = 8 // enough cuts to catch it losing what it never synced, on a loaded machine too
			}
			cfg.Env = targetEnv
			cfg.Target = &proc.TargetWorkload{Name: name}
			res, err := kernel.NewTester(os.Args[0], cfg).Run()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Results {
				t.Logf("%s", r)
			}
			safe := name == "inmem"
			switch {
			case !res.AllPassed() || res.AckedVerified == 0:
				t.Fatalf("%d power cuts, %d failed, %d acknowledged puts verified", res.Iterations, res.FailedRecoveries, res.AckedVerified)
			case safe && res.AckedLost != 0:
				t.Fatalf("Strict lost %d acknowledged puts", res.AckedLost)
			case !safe && (res.AckedLost == 0 || res.UnpromisedLosses() == 0):
				t.Fatalf("Buffered lost nothing under %d power cuts: the harness cannot tell it from Strict", res.Iterations)
			}
			t.Logf("%s: %d acknowledged puts verified, %d lost (unpromised: %d)", name, res.AckedVerified, res.AckedLost, res.UnpromisedLosses())
		})
	}
}

// TestKernelCrashTester_KillThenPowerCut SIGKILLs a child, lets a second
// child recover from the kill and cuts the power under it: whatever that
// recovery served must survive, in Buffered mode too (recovery makes the
// replayed log durable before serving it).
func TestKernelCrashTester_KillThenPowerCut(t *testing.T) {
	needKernel(t)
	for _, d := range []inmem.Durability{inmem.Buffered, inmem.Strict} {
		t.Run(d.String(), func(t *testing.T) {
			cfg := kernelConfig(53, d, "")
			cfg.KillFirst, cfg.Iterations = 150*time.Millisecond, 12
			cfg.MinRuntime, cfg.MaxRuntime = 0, 3*time.Millisecond // right after the recovery, before the child's own syncs
			res, err := kernel.NewTester(os.Args[0], cfg).Run()
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
			// What each cut had to keep is what the recovery from the kill
			// served (the cut comes within milliseconds of it, often before
			// the second child acknowledges anything): the recovered
			// versions must have grown across the iterations.
			if last := res.Results[len(res.Results)-1]; !res.AllPassed() || last.Recovered == 0 {
				t.Fatalf("%d kills then power cuts, %d failed, recovered up to v%d", res.Iterations, res.FailedRecoveries, last.Recovered)
			}
		})
	}
}
