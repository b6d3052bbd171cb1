package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
)

func TestEvent_AppendRange(t *testing.T) {
	dir := newDir(t)
	for i, p := range []string{"started", "step", "done"} {
		out := mustRun(t, "event", "append", "--dir", dir, "job", p)
		want := regexp.MustCompile(`^appended event ` + string(rune('0'+i)) + ` to run "job" at version \d+\n$`)
		if !want.MatchString(out) {
			t.Errorf("append printed %q", out)
		}
	}
	out := mustRun(t, "event", "range", "--dir", dir, "job", "--from", "1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SEQ") ||
		!regexp.MustCompile(`^1\s+2\s+\S+\s+step$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^2\s+3\s+\S+\s+done$`).MatchString(lines[2]) {
		t.Errorf("range --from 1 printed %q", out)
	}
	got := fromJSON[struct {
		Run    string
		Events []eventJSON
	}](t, mustRun(t, "event", "range", "--dir", dir, "--json", "--to", "2", "job"))
	if got.Run != "job" || len(got.Events) != 2 || got.Events[0].Value != "started" || got.Events[1].Seq != 1 {
		t.Errorf("range --to 2 --json = %+v", got)
	}
}

func TestEvent_Errors(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "event", "append", "--dir", dir, "job", "x")
	if _, err := runCLI(t, "event", "range", "--dir", dir, "nope"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Errorf("range on a missing run: %v", err)
	}
	if _, err := runCLI(t, "event", "range", "--dir", dir, "--from", "-1", "job"); exitCode(err) != exitUsage {
		t.Errorf("range --from -1: %v, want a usage error", err)
	}
}
