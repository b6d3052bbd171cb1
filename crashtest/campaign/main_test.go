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
	if os.Getenv(proc.ChildEnv) == "1" {
		os.Exit(proc.ChildMain(os.Args[1:]))
	}
	if os.Getenv(proc.TargetChildEnv) == "1" {
		os.Exit(proc.TargetMain(os.Args[1:], crashtest.InmemTargets()))
	}
	os.Exit(m.Run())
}
