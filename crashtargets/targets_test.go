package crashtargets_test

import (
	"os"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashtargets"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/proc"
)

// TestMain lets this test binary be the target child: the testers run it
// with proc.TargetChildEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(proc.TargetChildEnv) == "1" {
		os.Exit(proc.TargetMain(os.Args[1:], crashtargets.All()))
	}
	os.Exit(m.Run())
}

var childEnv = []string{proc.TargetChildEnv + "=1"}

// configs are the four engine configurations and whether each promises to
// keep acknowledged puts across a power loss.
var configs = []struct {
	name string
	safe bool
}{
	{"bbolt", true}, {"bbolt-nosync", false}, {"sqlite", true}, {"sqlite-off", false},
}

func processConfig(seed uint64, name string) proc.ProcessCrashConfig {
	return proc.ProcessCrashConfig{
		Iterations: 4,
		MinRuntime: 100 * time.Millisecond,
		MaxRuntime: 300 * time.Millisecond,
		Seed:       seed,
		Writers:    3,
		Env:        childEnv,
		Target:     &proc.TargetWorkload{Name: name},
	}
}

// TestTargets_Kill: a process kill loses nothing in any configuration, safe
// or not: every acknowledged put reached the OS.
func TestTargets_Kill(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), processConfig(71, c.name)).Run()
			if err != nil {
				t.Fatal(err)
			}
			report(t, res)
			if !res.AllPassed() || res.AckedLost != 0 || res.AckedVerified == 0 {
				t.Fatalf("%s under SIGKILL: %d kills, %d failed, %d acknowledged puts verified, %d lost",
					c.name, res.Iterations, res.FailedRecoveries, res.AckedVerified, res.AckedLost)
			}
		})
	}
}

// TestTargets_KernelPowerCut cuts the power under each configuration
// (EXT4_IOC_SHUTDOWN on a loop device): the safe ones lose no acknowledged
// put; the unsafe ones lose some, and the harness reports it. A harness
// that cannot tell them apart is broken.
func TestTargets_KernelPowerCut(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("skipping the ext4 power cut: %v", err)
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			k := kernel.NewTester(os.Args[0], kernel.Config{ProcessCrashConfig: processConfig(73, c.name), ImageSize: 64 << 20})
			res, err := k.Run()
			if err != nil {
				t.Fatal(err)
			}
			report(t, res)
			verdict(t, c.name, c.safe, res.AllPassed(), res.AckedVerified, res.AckedLost, res.UnpromisedLosses())
		})
	}
}

// TestTargets_Barriers builds every crash state of each configuration's
// writes (up to each flush barrier, and subsets of the blocks between two)
// and judges them: the same verdicts as the power cut, state by state.
func TestTargets_Barriers(t *testing.T) {
	if err := kernel.BarriersAvailable(); err != nil {
		t.Skipf("skipping the block-level barrier exploration: %v", err)
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			res, err := kernel.ExploreBarriers(kernel.BarrierConfig{
				Child: crashtest.Child{Binary: os.Args[0], Env: childEnv}, Target: &proc.TargetWorkload{Name: c.name},
				Seed: 79, Ops: 40, Writers: 2, RandomStates: 1, MaxStates: 150,
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range res.Violations {
				if i < 5 {
					t.Logf("%s", v)
				}
			}
			t.Logf("%s: %d writes, %d barriers, %d acknowledged puts; %d crash states, %v per state; %d violations, %d states with unpromised losses",
				c.name, res.Writes, res.Barriers, res.AckedOps, res.States, res.MeanStateTime().Round(time.Millisecond), len(res.Violations), res.Unpromised)
			verdict(t, c.name, c.safe, len(res.Violations) == 0, res.AckedChecked, 0, res.Unpromised)
		})
	}
}

func report(t *testing.T, res *proc.ProcessCrashResults) {
	t.Helper()
	for _, r := range res.Results {
		if !r.RecoverySucceeded {
			t.Errorf("%s", r)
		} else {
			t.Logf("%s", r)
		}
	}
}

// verdict asserts the expected verdict: a safe configuration passes with
// work verified; an unsafe one has no violation (nothing was promised) but
// its losses were seen and reported.
func verdict(t *testing.T, name string, safe, passed bool, verified, lost, unpromised int) {
	t.Helper()
	switch {
	case !passed:
		t.Fatalf("%s: violations (see above)", name)
	case safe && verified == 0:
		t.Fatalf("%s: nothing acknowledged was verified", name)
	case safe && (lost != 0 || unpromised != 0):
		t.Fatalf("%s is power safe but lost %d acknowledged puts (%d unpromised losses)", name, lost, unpromised)
	case !safe && unpromised == 0:
		t.Fatalf("%s is not power safe, yet lost nothing: the harness cannot tell it from the safe configuration", name)
	}
	t.Logf("verdict %s: safe=%v, %d verified, %d lost, %d unpromised losses reported", name, safe, verified, lost, unpromised)
}
