package kernel_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// targetEnv makes the test binary a target child serving in-mem.
var targetEnv = []string{proc.TargetChildEnv + "=1"}

// TestMain doubles as the workload child and as the target child: the
// testers re-execute this test binary with proc.ChildEnv or
// proc.TargetChildEnv set.
func TestMain(m *testing.M) {
	proc.ExitIfChild(os.Args[1:], crashtest.InmemTargets())
	os.Exit(m.Run())
}
