package crashtest_test

import (
	"fmt"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

func TestCrashHarness_EveryCrashPoint(t *testing.T) {
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		for _, typ := range []crashtest.CrashType{crashtest.ProcessKill, crashtest.PowerLoss} {
			for _, p := range crashtest.AllCrashPoints() {
				t.Run(fmt.Sprintf("%s/%s/%s", d, typ, p), func(t *testing.T) {
					cfg := crashtest.DefaultCrashConfig()
					cfg.CrashTypes = []crashtest.CrashType{typ}
					cfg.CrashProbability = 0
					cfg.Durability = d
					cfg.Options.SegmentSize = 4096
					h := crashtest.NewCrashHarness(t.TempDir(), cfg)
					h.SetCrashPoint(p)
					res, err := h.RunScenario(crashtest.MixedScenario(3))
					if err != nil {
						t.Fatal(err)
					}
					if !res.Crashed || res.CrashPoint == nil || *res.CrashPoint != p {
						t.Fatalf("scenario did not crash at %s: %v", p, res)
					}
					if !res.Recovery.Valid {
						t.Fatalf("%v\n%s", res, res.Report)
					}
					if p == crashtest.DuringRecovery && res.RecoveryCrashes != 1 {
						t.Fatalf("recovery did not crash: %v", res)
					}
					t.Log(res)
				})
			}
		}
	}
}

func TestCrashHarness_ConsecutiveCrashes(t *testing.T) {
	for _, typ := range []crashtest.CrashType{crashtest.ProcessKill, crashtest.PowerLoss} {
		t.Run(typ.String(), func(t *testing.T) {
			cfg := crashtest.DefaultCrashConfig()
			cfg.Seed = 7
			cfg.CrashTypes = []crashtest.CrashType{typ, crashtest.ProcessAbort}
			cfg.CrashProbability = 0.05
			cfg.Options.SegmentSize = 4096
			h := crashtest.NewCrashHarness(t.TempDir(), cfg)
			crashes := 0
			for i := 0; i < 8; i++ {
				res, err := h.RunScenario(crashtest.MixedScenario(2))
				if err != nil {
					t.Fatal(err)
				}
				if !res.Recovery.Valid {
					t.Fatalf("scenario %d: %v\n%s", i, res, res.Report)
				}
				if res.Crashed {
					crashes++
				}
			}
			if crashes == 0 {
				t.Fatal("no scenario crashed at a crash point")
			}
			// The history goes on across crashes: the model holds every scenario.
			acked := 0
			for _, op := range h.Model().Ops() {
				if op.Status == crashtest.Acked && op.Kind == crashtest.OpWrite {
					acked++
				}
			}
			t.Logf("%d crash points hit, %d acknowledged writes verified across 8 scenarios", crashes, acked)
		})
	}
}
