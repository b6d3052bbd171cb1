package campaign_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
)

// chromium returns the path of a Chromium binary, or skips saying exactly
// what is missing (.ci/run installs Debian's chromium package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH (chromium, chromium-browser or google-chrome): the HTML report is not rendered; .ci/run installs Debian's chromium")
	return ""
}

// sampleReport is a report with a passing and a failing matrix cell, chart
// points and a violation.
func sampleReport() *campaign.Report {
	rep := &campaign.Report{Format: campaign.ReportFormat, Tool: "in-mem crash campaign", Seed: 9, Shards: 1,
		Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Seconds: 61.5,
		Machine: campaign.Machine{GoVersion: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2, Host: "ci"}}
	rep.Summary = []campaign.Summary{{Scenario: "kill", Durability: "strict", Runs: 40, Unit: "kills", AckedVerified: 5000, Seconds: 12}}
	rep.Matrix = []crashtest.Cell{
		{Point: "AfterFsync", Kind: "kill", Durability: "strict", Expectation: "present", Runs: 2, Hits: 2, Passed: true},
		{Point: "DuringManifestUpdate", Kind: "powerloss-drop", Durability: "strict", Expectation: "old or new MANIFEST", Runs: 2, Hits: 2,
			Failures: []string{"recovery started from snapshot 0"}},
	}
	for i := 0; i < 12; i++ {
		rep.Iterations = append(rep.Iterations, campaign.Point{Scenario: "kill", Durability: "strict", Sample: crashtest.Sample{Index: i,
			RecoveryMs: float64(3 + i%4), Acked: uint64(100 * (i + 1)), Promised: uint64(100 * (i + 1)), Recovered: uint64(100 * (i + 1)), Passed: true}})
	}
	rep.Violations = []campaign.ViolationEntry{{Scenario: "matrix", Durability: "strict", Summary: "DuringManifestUpdate × powerloss-drop",
		Detail: "recovery started from snapshot 0", Reproduce: "go run ./cmd/inmem crash matrix --seed 9 --point DuringManifestUpdate"}}
	return rep
}

// TestReport_RendersInChromium renders the HTML report in headless
// Chromium and checks the rendered page: the verdict, the matrix grid with
// its coloured cells, both charts with their lines, the violation and its
// reproduce command. No network is involved: the page is one file.
func TestReport_RendersInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := sampleReport().WriteHTMLFile(page); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	dom, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	html := string(dom)
	for _, want := range []string{
		`id="verdict" class="fail"`, `<table id="matrix">`, `class="pass"`, `class="fail"`,
		"DuringManifestUpdate", "strict · kill", "strict · powerloss-drop",
		"kill (strict): recovery time per iteration", "kill (strict): acknowledged, promised and recovered per iteration",
		`data-name="acknowledged"`, `data-name="promised"`, `data-name="recovered"`, `data-name="recovery ms"`,
		"go run ./cmd/inmem crash matrix --seed 9 --point DuringManifestUpdate",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	// A screenshot proves it paints; it stays out of the repository.
	shot := filepath.Join(dir, "report.png")
	if err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, "--window-size=1200,1600", "file://"+page)...).Run(); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("the screenshot is missing or blank: %v", err)
	}
}
