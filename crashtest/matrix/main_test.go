package matrix_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem/crashtest/proc"
)

// TestMain doubles as the workload child: the kill column re-executes this
// test binary with proc.ChildEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(proc.ChildEnv) == "1" {
		os.Exit(proc.ChildMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}
