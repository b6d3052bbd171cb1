package main

import (
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/kernel"
)

// TestCrash_Barriers runs `inmem crash barriers` on a small workload.
func TestCrash_Barriers(t *testing.T) {
	if err := kernel.BarriersAvailable(); err != nil {
		t.Skipf("skipping inmem crash barriers: %v", err)
	}
	dir := t.TempDir()
	code, out, errOut := runExit(t, "crash", "barriers", "--ops", "16", "--iterations", "1", "--durability", "strict",
		"--states", "-1", "--dir", dir)
	if code != exitOK || !strings.Contains(out, "crash states") || !strings.Contains(out, "PASS: every promise held") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestCrash_BarriersBadFlags(t *testing.T) {
	args := []string{"crash", "barriers", "--target", "sqlite"} // needs --target-binary
	if code, _, errOut := runExit(t, args...); code != exitUsage {
		t.Errorf("inmem %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errOut)
	}
}
