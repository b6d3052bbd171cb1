package campaign_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/proc"
)

// TestRunCampaign_KillTarget runs `inmem crash kill --target
// inmem-buffered`: a key/value target through the target protocol, its
// lifecycle (reopens), its coverage of phases in the summary, format 1.
func TestRunCampaign_KillTarget(t *testing.T) {
	rep, err := campaign.Run(context.Background(), campaign.Config{
		Scenarios: []string{"kill"}, Seed: 9, Iterations: 3, Dir: t.TempDir(),
		TargetChild: crashtest.Child{Binary: os.Args[0], Env: []string{proc.TargetChildEnv + "=1"}},
		Settings:    map[string]crashtest.Settings{"kill": {"target": {"inmem-buffered"}, "reopen-every": {"20"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || len(rep.Summary) != 1 || rep.Summary[0].Durability != "inmem-buffered" || rep.Summary[0].Coverage == nil {
		t.Fatalf("passed %v, summary %+v", rep.Passed, rep.Summary)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"format": 1`) || !strings.Contains(js.String(), `"phases"`) {
		t.Fatalf("the JSON report lacks format 1 or the coverage:\n%s", js.String())
	}
}

// TestCheck_TargetSettings: a target's settings are checked before any
// work.
func TestCheck_TargetSettings(t *testing.T) {
	tcs := []struct {
		name string
		set  crashtest.Settings
	}{
		{"mix without writes", crashtest.Settings{"target": {"inmem-buffered"}, "mix": {"sync=5"}}},
		{"check-timeout too short", crashtest.Settings{"check-timeout": {"10ms"}}},
		{"unknown depth", crashtest.Settings{"depth": {"abyssal"}}},
		{"another engine without its executable", crashtest.Settings{"target": {"bbolt"}}},
		{"a missing executable", crashtest.Settings{"target": {"bbolt"}, "target-binary": {"/nonexistent/crashtarget"}}},
		{"kill-first without a target", crashtest.Settings{"kill-first": {"true"}}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			err := campaign.Check(campaign.Config{Scenarios: []string{"kill"}, Settings: map[string]crashtest.Settings{"kill": tc.set}})
			if !errors.Is(err, crashtest.ErrBadSetting) {
				t.Fatalf("want a bad setting, got %v", err)
			}
		})
	}
}

// TestReport_Classes: findings by class, notices and coverage reach the
// table, apart from the violations, and the JSON report.
func TestReport_Classes(t *testing.T) {
	rep := &campaign.Report{Format: campaign.ReportFormat, Passed: false,
		Summary: []campaign.Summary{{Scenario: "barriers", Durability: "leveldb", Runs: 10, Unit: "crash states", Violations: 2, Notices: 1,
			Classes:  crashtest.ClassCounts{crashtest.ClassUnopenable: 2, crashtest.ClassCreation: 1},
			Coverage: &crashtest.Coverage{Phases: map[string]int{"reopen": 4}, SyncPoints: 9, Files: []crashtest.FileCoverage{{Name: "MANIFEST-000004", Size: 60, States: 3}}}}},
		Violations: []campaign.ViolationEntry{{Scenario: "barriers", Summary: "state b55", Class: crashtest.ClassUnopenable}},
		Notices:    []campaign.ViolationEntry{{Scenario: "barriers", Summary: "state b1", Class: crashtest.ClassCreation}},
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, want := range []string{"unopenable 2, creation 1 (not a violation", "reopen 4", "9 sync points", "MANIFEST-000004 60 B, 3 states",
		"VIOLATION 1 (barriers, , unopenable)", "NOTICE 1 (barriers, , creation, not a violation)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := campaign.ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Summary[0].Classes[crashtest.ClassUnopenable]; got != 2 || back.Notices[0].Class != crashtest.ClassCreation {
		t.Fatalf("the JSON round trip lost the classes: %d, %+v", got, back.Notices)
	}
}
