package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/in-mem/inmem"
)

func TestExport(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 4)
	dest := filepath.Join(t.TempDir(), "copy")
	out := mustRun(t, "export", "--dir", dir, dest)
	want := `^exported to ` + regexp.QuoteMeta(dest) + ` at watermark 6 \(snapshot 1\): \d+ files, \d+ bytes in [\d.]+ ms\n(  \S+\n)+$`
	if !regexp.MustCompile(want).MatchString(out) || !regexp.MustCompile(`(?m)^  EXPORT$`).MatchString(out) {
		t.Errorf("export printed %q", out)
	}
	before := tree(t, dest)
	v := fromJSON[verifyJSON](t, mustRun(t, "verify", "--json", dest))
	if !v.OK || v.Keys != 3 || v.Events != 1 || v.Cells != 1 || v.LastVersion != 6 {
		t.Errorf("verify of the export = %+v", v)
	}
	checkUnchanged(t, dest, before)

	// The source keeps working, and a second export needs a new directory.
	mustRun(t, "kv", "put", "--dir", dir, "r", "k9", "after")
	if _, err := runCLI(t, "export", "--dir", dir, dest); !errors.Is(err, inmem.ErrInvalid) {
		t.Errorf("export into a non-empty directory: %v", err)
	}
	e := fromJSON[exportJSON](t, mustRun(t, "export", "--dir", dir, "--json", filepath.Join(t.TempDir(), "copy2")))
	if e.Watermark != 7 || e.SnapshotID != 2 || len(e.Files) == 0 || e.Bytes == 0 {
		t.Errorf("export --json = %+v", e)
	}
}

func TestExport_Encrypted(t *testing.T) {
	dir := newDir(t)
	key := writeKey(t, 3)
	fillDB(t, dir, 2, "--encryption-key-file", key)
	dest := filepath.Join(t.TempDir(), "copy")
	mustRun(t, "export", "--dir", dir, "--encryption-key-file", key, dest)
	if out := mustRun(t, "verify", dest, "--encryption-key-file", key); !regexp.MustCompile(`(?m)^last version\s+4$`).MatchString(out) {
		t.Errorf("verify of the encrypted export:\n%s", out)
	}
}
