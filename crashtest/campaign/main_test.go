package campaign_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// TestMain doubles as the workload child and the target child: the kill
// and matrix scenarios re-execute this test binary with proc.ChildEnv or
// proc.TargetChildEnv set.
func TestMain(m *testing.M) {
	proc.ExitIfChild(os.Args[1:], crashtest.InmemTargets())
	os.Exit(m.Run())
}
