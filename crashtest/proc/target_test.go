package proc_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// targetEnv makes the test binary a target child serving in-mem.
var targetEnv = []string{proc.TargetChildEnv + "=1"}

func TestRunTargetChild_ThenCheck(t *testing.T) {
	dir := t.TempDir()
	tc := crashtest.InmemTargets()[0]
	var acks bytes.Buffer
	cfg := proc.TargetChildConfig{Target: tc.Name, Dir: dir, Seed: 5, Writers: 2, Ops: 7, SyncEvery: 3}
	if err := proc.RunTargetChild(cfg, tc, &acks); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(acks.String(), "\nA "); got != 14 {
		t.Fatalf("%d acknowledgements, want 14:\n%s", got, acks.String())
	}
	present, absent := proc.TargetKey(0, 1, 7), proc.TargetKey(0, 1, 8)
	var out bytes.Buffer
	if err := proc.RunTargetCheck(tc, dir, strings.NewReader(present+"\n"+absent+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	want := "O\nV " + present + " "
	if !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), "M "+absent+"\nP ok\nC ok\n") {
		t.Fatalf("check wrote:\n%s", out.String())
	}
}

// TestProcessCrashTester_Target kills a target child serving in-mem through
// the Target interface: every acknowledged put must survive a kill.
func TestProcessCrashTester_Target(t *testing.T) {
	for _, name := range []string{"inmem", "inmem-buffered"} {
		t.Run(name, func(t *testing.T) {
			cfg := killConfig(51)
			cfg.Iterations = 4
			cfg.Env = targetEnv
			cfg.MinRuntime, cfg.MaxRuntime = 30*time.Millisecond, 150*time.Millisecond
			cfg.Target = &proc.TargetWorkload{Name: name, SyncEvery: 10}
			res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
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
			if !res.AllPassed() || res.AckedVerified == 0 || res.AckedLost != 0 {
				t.Fatalf("%d kills, %d failed, %d acknowledged puts verified, %d lost", res.Iterations, res.FailedRecoveries, res.AckedVerified, res.AckedLost)
			}
		})
	}
}

func TestResolveTarget(t *testing.T) {
	w, err := proc.ResolveTarget(os.Args[0], nil, targetEnv, "inmem-buffered")
	if err != nil || w.PowerSafe || w.Name != "inmem-buffered" {
		t.Fatalf("%+v, %v", w, err)
	}
	if _, err := proc.ResolveTarget(os.Args[0], nil, targetEnv, "nosuch"); err == nil || !strings.Contains(err.Error(), "inmem-buffered") {
		t.Fatalf("an unknown target: %v", err)
	}
}
