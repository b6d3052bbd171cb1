package lazyfs_test

import (
	"os"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/internal/plant"
)

// plantEnv names a bug (package plant) the workload child plants in its
// database.
const plantEnv = "INMEM_TEST_PLANT"

// TestMain doubles as the workload child: the explorer re-executes this
// test binary with proc.ChildEnv set.
func TestMain(m *testing.M) {
	var opts []proc.ChildOption
	if name := os.Getenv(plantEnv); name != "" {
		bug, err := plant.Named(name)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		opts = append(opts, func(o *inmem.Options) { *o = *crashtest.Planted(*o, bug) })
	}
	proc.ExitIfChild(os.Args[1:], crashtest.InmemTargets(), opts...)
	os.Exit(m.Run())
}
