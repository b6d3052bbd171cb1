package matrix_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/matrix"
	"github.com/in-mem/inmem/crashtest/proc"
)

// The crash scenario matrix: every crash point × {a real SIGKILL of a child
// process, a power loss dropping unsynced data, a power loss keeping a
// random torn subset of it} × {Strict, Buffered}. Each cell states its
// expected result (crashtest.Run's expectations, printed with -v) and
// asserts it, on top of the reference model's full judgement:
//
//	BeforeWALWrite              the commit in flight is absent
//	AfterWALWriteBeforeFsync    the commit in flight is present or absent, whole
//	AfterFsync                  Strict: the synced commit in flight is present
//	DuringSegmentRotation       every acknowledged commit is present
//	DuringSnapshotBeforeRename  data present; recovery starts from the previous snapshot
//	DuringSnapshotAfterRename   data present; new snapshot file exists, MANIFEST names the old one
//	DuringManifestUpdate        data present; the old or the new MANIFEST, never neither
//	DuringCompaction            every acknowledged commit is present
//	DuringRecovery              crash in recovery, second recovery: every acknowledged commit present
//	DuringLogEndUpdate          every acknowledged commit is present
//	DuringSegmentPrepare        every acknowledged commit is present (Buffered, power loss: every
//	                            commit acknowledged before the last sync); the zeros lie past the log
func TestCrashScenarioMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the matrix kills real processes; skipped with -short")
	}
	cells, err := matrix.Run(matrix.Config{
		Seed:  1,
		Runs:  2,
		Dir:   t.TempDir(),
		Child: crashtest.Child{Binary: os.Args[0], Env: []string{proc.ChildEnv + "=1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(crashtest.AllCrashPoints()) * len(matrix.Kinds()) * 2; len(cells) != want {
		t.Fatalf("%d cells, want %d", len(cells), want)
	}
	for _, c := range cells {
		name := fmt.Sprintf("%s/%s/%s", c.Durability, c.Point, c.Kind)
		if !c.Passed {
			t.Errorf("%s: expected %s: %v\nreproduce: go run ./cmd/inmem crash matrix --seed 1 --point %s --type %s --durability %s",
				name, c.Expectation, c.Failures, c.Point, c.Kind, c.Durability)
			continue
		}
		t.Logf("%-62s ok (%d/%d hit, %d acked verified): %s", name, c.Hits, c.Runs, c.AckedVerified, c.Expectation)
	}
}
