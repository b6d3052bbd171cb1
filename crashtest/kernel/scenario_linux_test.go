package kernel_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/proc"
)

// TestRunCampaign_KernelScenarios runs the kernel scenarios as `inmem crash
// kernel` and `inmem crash barriers` do: a summary row each, their own
// columns in the HTML report's matrix.
func TestRunCampaign_KernelScenarios(t *testing.T) {
	needBarriers(t)
	rep, err := campaign.Run(context.Background(), campaign.Config{
		Scenarios:    []string{"kernel", "barriers"},
		Durabilities: []inmem.Durability{inmem.Strict},
		Seed:         5, Iterations: 2, Dir: t.TempDir(),
		Child:    crashtest.Child{Binary: os.Args[0], Env: []string{proc.ChildEnv + "=1"}},
		Settings: map[string]crashtest.Settings{"barriers": {"states": {"-1"}, "ops": {"24"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Log("\n" + table.String())
	if !rep.Passed || len(rep.Summary) != 2 || len(rep.Matrix) != 3 {
		t.Fatalf("passed %v, %d summary rows, %d matrix cells", rep.Passed, len(rep.Summary), len(rep.Matrix))
	}
	for _, s := range rep.Summary {
		if s.Runs == 0 || s.AckedVerified == 0 {
			t.Errorf("%s did no verified work: %+v", s.Scenario, s)
		}
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"strict · kernel-ordered", "strict · kernel-writeback", "strict · barriers", "power cut, random moment", "every flush barrier"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	if strings.Contains(html.String(), "DuringManifestUpdate") {
		t.Error("crash point rows without a single cell")
	}
}
