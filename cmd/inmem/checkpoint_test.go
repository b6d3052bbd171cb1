package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestCheckpoint(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v1")
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v2")
	out := mustRun(t, "checkpoint", "--dir", dir)
	want := `^snapshot 1 at watermark 2: \S+snap-000001.chk \(\d+ bytes, \d+ bytes of data\)\n  1 runs, 1 keys, 2 versions, 0 events, 0 cells`
	if !regexp.MustCompile(want).MatchString(out) {
		t.Errorf("checkpoint printed %q", out)
	}
	c := fromJSON[checkpointJSON](t, mustRun(t, "checkpoint", "--dir", dir, "--json"))
	if c.SnapshotID != 2 || c.Watermark != 2 || c.Keys != 1 || c.Bytes == 0 {
		t.Errorf("checkpoint --json = %+v", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "SNAPSHOTS", "snap-000002.chk")); err != nil {
		t.Error(err)
	}
	if out := mustRun(t, "kv", "get", "--dir", dir, "r", "k"); out != "v2\n" {
		t.Errorf("get after checkpoint printed %q", out)
	}
}
