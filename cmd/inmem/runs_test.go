package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestRuns(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "zeta", "k", "v")
	mustRun(t, "event", "append", "--dir", dir, "alpha", "e")
	out := mustRun(t, "runs", "--dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!regexp.MustCompile(`^alpha\s+[0-9a-f]{32}\s+2\s+\S+Z$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^zeta\s+[0-9a-f]{32}\s+1\s+`).MatchString(lines[2]) {
		t.Errorf("runs printed %q", out)
	}
	runs := fromJSON[[]runJSON](t, mustRun(t, "runs", "--dir", dir, "--json"))
	if len(runs) != 2 || runs[0].Name != "alpha" || runs[1].Version != 1 || len(runs[1].ID) != 32 {
		t.Errorf("runs --json = %+v", runs)
	}
	if _, err := runCLI(t, "runs", "--dir", dir, "extra"); exitCode(err) != exitUsage {
		t.Errorf("runs with an argument: %v", err)
	}
}
