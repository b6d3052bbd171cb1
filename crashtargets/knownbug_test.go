package crashtargets_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/kernel"
)

// buildTarget builds the target executable of the nested module dir (its
// own go.mod, its own goleveldb) into the test's temporary directory.
func buildTarget(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), dir)
	out, err := exec.Command("go", "build", "-C", dir, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -C %s: %v\n%s", dir, err, out)
	}
	return bin
}

// reproduce spells a reproduction as the command that reruns it, as the
// inmem command line does (from the repository's root).
func reproduce(r crashtest.Reproduction) string {
	words := []string{"go run ./cmd/inmem crash", r.Scenario, "--seed", fmt.Sprint(r.Seed), "--iterations", fmt.Sprint(r.Iterations)}
	for _, p := range r.Params {
		words = append(words, "--"+p.Name+"="+p.Value)
	}
	return strings.Join(words, " ")
}

// knownBugCampaign runs `inmem crash barriers --target NAME
// --target-binary BIN` at its defaults, seed 1.
func knownBugCampaign(t testing.TB, name, bin string) *campaign.Report {
	t.Helper()
	rep, err := campaign.Run(context.Background(), campaign.Config{
		Scenarios: []string{"barriers"}, Seed: 1, Iterations: 1, Dir: t.TempDir(),
		Settings: map[string]crashtest.Settings{"barriers": {"target": {name}, "target-binary": {bin}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// BenchmarkKnownBug_Goleveldb measures how long the barrier scenario takes,
// at its defaults, to judge goleveldb before and after PR #351 (the goal:
// within 60 s each, on the CI machine): one recorded workload and every
// crash state of it per iteration.
//
//	go -C crashtargets test -run '^$' -bench KnownBug -benchtime 1x
func BenchmarkKnownBug_Goleveldb(b *testing.B) {
	if err := kernel.BarriersAvailable(); err != nil {
		b.Skipf("skipping: %v", err)
	}
	for _, name := range []string{"goleveldb-buggy", "goleveldb-fixed"} {
		b.Run(name, func(b *testing.B) {
			bin := buildTarget(b, name)
			b.ResetTimer()
			for range b.N {
				rep := knownBugCampaign(b, name, bin)
				b.ReportMetric(float64(rep.Summary[0].Runs), "states/op")
			}
		})
	}
}

// TestKnownBug_GoleveldbManifest points `inmem crash barriers`, with its
// default settings, at goleveldb before and after PR #351 (a reopened
// store's new MANIFEST synced before CURRENT names it). Before it, crash
// states right after a clean reopen leave CURRENT naming an empty MANIFEST:
// the store no longer opens, with acknowledged writes in it, and the
// harness must say so (class unopenable). After it: no violation at all;
// crash states during the store's first creation, if any, are notices of
// their own class (creation), not violations.
func TestKnownBug_GoleveldbManifest(t *testing.T) {
	if err := kernel.BarriersAvailable(); err != nil {
		t.Skipf("skipping the known-bug panel (it needs the barrier explorer): %v", err)
	}
	for _, tc := range []struct {
		name  string
		buggy bool
	}{{"goleveldb-buggy", true}, {"goleveldb-fixed", false}} {
		t.Run(tc.name, func(t *testing.T) {
			bin := buildTarget(t, tc.name)
			start := time.Now()
			rep := knownBugCampaign(t, tc.name, bin)
			s := rep.Summary[0]
			t.Logf("%s: %d crash states in %v; classes %v; %d violations, %d notices; coverage %+v",
				tc.name, s.Runs, time.Since(start).Round(time.Millisecond), s.Classes, s.Violations, s.Notices, s.Coverage.Phases)
			unopenable := 0
			for _, v := range rep.Violations {
				if v.Class == crashtest.ClassUnopenable {
					unopenable++
				}
			}
			switch {
			case tc.buggy && unopenable == 0:
				t.Fatalf("the harness missed goleveldb's PR #351 bug: %d violations, none unopenable (reproduce: %s)",
					len(rep.Violations), reproduce(rep.Matrix[0].Reproduction))
			case tc.buggy:
				t.Logf("flagged: %d unopenable states; first: %s\n%s\nreproduce: %s", unopenable, rep.Violations[0].Summary,
					rep.Violations[0].Detail, reproduce(rep.Violations[0].Reproduction))
			case len(rep.Violations) > 0:
				for _, v := range rep.Violations {
					t.Errorf("%s (%s)\n%s\nreproduce: %s", v.Summary, v.Class, v.Detail, reproduce(v.Reproduction))
				}
			}
		})
	}
}
