//go:build inmem_plant_close_nosync || inmem_plant_snapshot_trustlen

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/campaign"
)

// reproducesPlanted runs the crash command args against an engine built
// with a planted bug (a test-only build tag): it must report a violation
// whose printed command, parsed back and run, reports it again.
//
//lint:ignore U1000 used by the tests built with the inmem_plant_* tags
func reproducesPlanted(t *testing.T, args []string) {
	t.Helper()
	first := runReport(t, args, exitError)
	v := first.Violations[0]
	t.Logf("caught: %s\n%s\n  reproduce: %s", v.Summary, v.Detail, v.Reproduce)
	again := runReport(t, commandArgs(t, v.Reproduce), exitError)
	if !hasViolation(again, v.Summary) {
		t.Fatalf("the reproduction did not reproduce %q: %v", v.Summary, summaries(again))
	}
}

// runReport runs the crash command args, wants the exit status code, and
// returns the JSON report.
//
//lint:ignore U1000 used by the tests built with the inmem_plant_* tags
func runReport(t *testing.T, args []string, code int) *campaign.Report {
	t.Helper()
	js := filepath.Join(t.TempDir(), "report.json")
	got, out, errOut := runExit(t, append(args, "--json", js)...)
	if got != code {
		t.Fatalf("inmem %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	rep, err := campaign.ReadJSONFile(js)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
