package crashtargets_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/proc"
)

// pythonTarget returns the Python target executable (SQLite through
// Python's sqlite3, speaking the target protocol), or skips where python3
// is missing.
func pythonTarget(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("skipping the Python target: python3 is not on PATH (%v); install Python 3 to crash-test an engine written in Python", err)
	}
	path, err := filepath.Abs(filepath.Join("python", "sqlite_target.py"))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// pythonConfig is processConfig for the Python target: another executable,
// the same protocol, the same workload (puts, deletes, batches, syncs,
// reopens).
func pythonConfig(seed uint64, name string) proc.ProcessCrashConfig {
	cfg := processConfig(seed, name)
	cfg.Env = nil
	return cfg
}

// TestPythonTarget_Kill: an engine written in another language, through the
// target protocol: under SIGKILL neither SQLite configuration loses an
// acknowledged write, deletes stay deleted, batches stay whole.
func TestPythonTarget_Kill(t *testing.T) {
	bin := pythonTarget(t)
	for _, name := range []string{"py-sqlite", "py-sqlite-off"} {
		t.Run(name, func(t *testing.T) {
			res, err := proc.NewProcessCrashTester(bin, t.TempDir(), pythonConfig(83, name)).Run()
			if err != nil {
				t.Fatal(err)
			}
			report(t, res, nil)
			if !res.AllPassed() || res.AckedLost != 0 || res.AckedVerified == 0 {
				t.Fatalf("%s under SIGKILL: %d kills, %d failed, %d acknowledged writes verified, %d lost",
					name, res.Iterations, res.FailedRecoveries, res.AckedVerified, res.AckedLost)
			}
		})
	}
}

// TestPythonTarget_KernelPowerCut: the ext4 power cut tells the Python
// SQLite configurations apart, as it does the Go ones.
func TestPythonTarget_KernelPowerCut(t *testing.T) {
	bin := pythonTarget(t)
	if err := kernel.Available(); err != nil {
		t.Skipf("skipping the ext4 power cut: %v", err)
	}
	for _, c := range []struct {
		name string
		safe bool
	}{{"py-sqlite", true}, {"py-sqlite-off", false}} {
		t.Run(c.name, func(t *testing.T) {
			k := kernel.NewTester(bin, kernel.Config{ProcessCrashConfig: pythonConfig(89, c.name), ImageSize: 64 << 20})
			res, err := k.Run()
			if err != nil {
				t.Fatal(err)
			}
			report(t, res, nil)
			verdict(t, c.name, c.safe, res.AllPassed(), res.AckedVerified, res.AckedLost, res.UnpromisedLosses())
		})
	}
}
