package matrix_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/matrix"
	"github.com/in-mem/inmem/internal/plant"
)

// TestMatrix_KillThenPowerLossCatchesUnsyncedRecovery plants a recovery that
// serves the log it replayed without making it durable: only the
// kill-then-powerloss column can see it (a plain power loss leaves nothing
// unsynced to replay; a plain kill loses nothing), and it does, in both
// modes.
func TestMatrix_KillThenPowerLossCatchesUnsyncedRecovery(t *testing.T) {
	bug, err := plant.Named("recovery-no-sync")
	if err != nil {
		t.Fatal(err)
	}
	points := []crashtest.CrashPoint{crashtest.AfterWALWriteBeforeFsync} // a record written, not synced, at the kill
	cells, err := matrix.Run(matrix.Config{Seed: 3, Runs: 1, Dir: t.TempDir(), Points: points, Plant: bug,
		Kinds: []matrix.Kind{matrix.PowerDrop, matrix.PowerRandom, matrix.KillThenPowerLoss}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cells {
		caught := !c.Passed
		if want := c.Kind == string(matrix.KillThenPowerLoss); caught != want {
			t.Errorf("%s/%s/%s: caught %v, want %v: %v", c.Durability, c.Point, c.Kind, caught, want, c.Failures)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("caught in %s mode: %.300s", inmem.Strict, firstFailure(cells))
}

func firstFailure(cells []crashtest.Cell) string {
	for _, c := range cells {
		if len(c.Failures) > 0 {
			return c.Failures[0]
		}
	}
	return ""
}
