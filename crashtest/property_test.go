package crashtest_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// TestCrashScenarios_Property draws random operation sequences and crashes
// them at a random hit of a random crash point; rapid shrinks a failure to
// a minimal sequence. Reproduce with the printed -rapid.seed.
func TestCrashScenarios_Property(t *testing.T) {
	points := crashtest.AllCrashPoints()
	rapid.Check(t, func(rt *rapid.T) {
		type opSpec struct {
			Kind, Run, Key int
		}
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) opSpec {
			return opSpec{rapid.IntRange(0, 9).Draw(t, "kind"), rapid.IntRange(0, 2).Draw(t, "run"), rapid.IntRange(0, 5).Draw(t, "key")}
		}), 1, 40).Draw(rt, "ops")
		point := rapid.SampledFrom(points).Draw(rt, "point")
		hit := rapid.Uint64Range(1, 4).Draw(rt, "hit")
		typ := rapid.SampledFrom([]crashtest.CrashType{crashtest.ProcessKill, crashtest.PowerLoss}).Draw(rt, "type")
		durability := rapid.SampledFrom([]inmem.Durability{inmem.Strict, inmem.Buffered}).Draw(rt, "durability")

		cfg := crashtest.DefaultCrashConfig()
		cfg.CrashProbability = 0
		cfg.CrashTypes = []crashtest.CrashType{typ}
		cfg.Durability = durability
		cfg.Options.SegmentSize = 4096
		h := crashtest.NewCrashHarness(t.TempDir(), cfg)
		h.SetCrashPointHit(point, hit)
		res, err := h.RunScenario(func(r *crashtest.ScenarioRunner) error {
			for i, o := range ops {
				run, key := fmt.Sprintf("r%d", o.Run), fmt.Sprintf("k%d", o.Key)
				val := crashtest.UniqueValue(run, key, i, 300)
				var err error
				switch o.Kind {
				case 0, 1:
					err = r.KVPut(run, key, val)
				case 2:
					err = r.KVDelete(run, key)
				case 3:
					err = r.EventAppend(run, val)
				case 4:
					err = r.StateSet(run, key, val)
				case 5:
					err = r.Update(crashtest.CASCurrent(run, key, val), crashtest.Put(run, key+"x", val), crashtest.Append(run, val))
				case 6:
					err = r.Checkpoint()
				case 7:
					err = r.Compact(inmem.CompactWALOnly)
				case 8:
					err = r.Flush()
				case 9:
					err = r.Compact(inmem.CompactFull)
				}
				if err == crashtest.ErrCrashed {
					return err
				}
			}
			return nil
		})
		if err != nil {
			rt.Fatal(err)
		}
		if !res.Recovery.Valid {
			rt.Fatalf("%v\n%s", res, res.Report)
		}
	})
}
