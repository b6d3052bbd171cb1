package crashtest_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem/crashtest"
)

// TestMain doubles as the workload child: the kill tests re-execute this
// test binary with crashtest.ChildEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(crashtest.ChildEnv) == "1" {
		os.Exit(crashtest.ChildMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}
