package campaign_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/crashtest/matrix"
	"github.com/in-mem/inmem/crashtest/proc"
)

func TestRunCampaign_AllScenariosAndReports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario; skipped with -short")
	}
	rep, err := campaign.Run(context.Background(), campaign.Config{
		Seed:       3,
		Iterations: 1,
		Dir:        t.TempDir(),
		Child:      crashtest.Child{Binary: os.Args[0], Env: []string{proc.ChildEnv + "=1"}},
		Settings:   map[string]crashtest.Settings{"powerloss": {"ops": {"80"}}, "ioerrors": {"ops": {"70"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Log("\n" + table.String())
	cells := len(crashtest.AllCrashPoints()) * len(matrix.Kinds()) * 2
	if slices.Contains(campaign.Default(), "lazy") {
		cells += 2 // one per durability
	}
	if !rep.Passed || len(rep.Summary) != 2*len(campaign.Default()) || len(rep.Matrix) != cells {
		t.Fatalf("passed %v, %d summary rows, %d matrix cells", rep.Passed, len(rep.Summary), len(rep.Matrix))
	}
	for _, s := range rep.Summary {
		// A refused damaged database verifies no acknowledged operation:
		// its files are unchanged, and that is the verdict.
		if s.Runs == 0 || s.AckedVerified == 0 && s.Scenario != "corrupt" {
			t.Errorf("scenario %s (%s) did no verified work: %+v", s.Scenario, s.Durability, s)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "seed", "passed", "summary", "matrix", "iterations", "violations", "machine"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="matrix"`, "DuringManifestUpdate", "<svg", "<polyline", `id="no-violations"`, "PASS"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if strings.Contains(html.String(), "<script") || strings.Contains(html.String(), "http://") && !strings.Contains(html.String(), `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the HTML report is not self-contained")
	}
}

// TestDefault_ConditionalScenarios: lazy is in a campaign without a list
// exactly where FUSE is, and skipped, with the reason, elsewhere.
func TestDefault_ConditionalScenarios(t *testing.T) {
	avail := lazyfs.Available()
	skipped := slices.ContainsFunc(campaign.Skipped(), func(s campaign.Skip) bool {
		return s.Scenario == "lazy" && s.Reason != nil && strings.Contains(s.Reason.Error(), "FUSE")
	})
	if in := slices.Contains(campaign.Default(), "lazy"); in != (avail == nil) || skipped != (avail != nil) {
		t.Fatalf("FUSE here: %v; lazy in Default: %v, in Skipped: %v", avail, in, skipped)
	}
}
