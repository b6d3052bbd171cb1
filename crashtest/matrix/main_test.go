package matrix_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// TestMain doubles as the workload child: the kill column re-executes this
// test binary with proc.ChildEnv set.
func TestMain(m *testing.M) {
	proc.ExitIfChild(os.Args[1:], crashtest.InmemTargets())
	os.Exit(m.Run())
}
