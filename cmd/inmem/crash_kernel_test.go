package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/kernel"
)

// TestCrash_Kernel runs `inmem crash kernel` for real (root and loop devices
// needed; it skips saying which is missing): a summary table, reports with
// the kernel-ordered and kernel-writeback columns, exit 0.
func TestCrash_Kernel(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("skipping inmem crash kernel: %v", err)
	}
	dir := t.TempDir()
	js, html := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, out, errOut := runExit(t, "crash", "kernel", "--iterations", "2", "--durability", "strict", "--dir", dir,
		"--json", js, "--html", html)
	if code != exitOK || !strings.Contains(out, "PASS: every promise held") || !strings.Contains(out, "power cuts") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep campaign.Report
	b, err := os.ReadFile(js)
	if err != nil || json.Unmarshal(b, &rep) != nil || len(rep.Matrix) != 2 || rep.Summary[0].Runs != 4 {
		t.Fatalf("report: %v, %+v", err, rep.Summary)
	}
	h, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(h), "strict · kernel-writeback") {
		t.Fatalf("HTML report without the kernel columns: %v", err)
	}
}

func TestCrash_KernelBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"crash", "kernel", "--target", "bbolt"}, // needs --target-binary
		{"crash", "kernel", "--target-binary", "/nonexistent/crashtarget"},
		{"crash", "kernel", "--min-runtime", "2s", "--max-runtime", "1s"},
	} {
		if code, _, errOut := runExit(t, args...); code != exitUsage {
			t.Errorf("inmem %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errOut)
		}
	}
}
