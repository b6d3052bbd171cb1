package main

import (
	"regexp"
	"testing"
)

func TestCompact(t *testing.T) {
	dir := newDir(t)
	for _, v := range []string{"a", "b", "c"} {
		mustRun(t, "kv", "put", "--dir", dir, "r", "k", v)
	}
	mustRun(t, "checkpoint", "--dir", dir)
	mustRun(t, "checkpoint", "--dir", dir)
	out := mustRun(t, "compact", "--dir", dir)
	if !regexp.MustCompile(`^reclaimed [1-9]\d* bytes: 0 segments and 1 snapshots removed \(wal-only, `).MatchString(out) {
		t.Errorf("compact printed %q", out)
	}

	mustRun(t, "retention", "set", "--dir", dir, "r", "last:1")
	c := fromJSON[compactJSON](t, mustRun(t, "compact", "--dir", dir, "--full", "--json"))
	if c.Mode != "full" || c.VersionsRemoved != 2 || c.Checkpoint == nil || c.SnapshotsRemoved != 1 {
		t.Errorf("compact --full --json = %+v", c)
	}
	h := fromJSON[struct{ Versions []kvVersion }](t, mustRun(t, "kv", "history", "--dir", dir, "--json", "r", "k"))
	if len(h.Versions) != 1 || valueOf(h.Versions[0]) != "c" {
		t.Errorf("history after compact --full = %+v", h.Versions)
	}
}
