package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
)

func TestImport(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 4)
	export := filepath.Join(t.TempDir(), "backup")
	mustRun(t, "export", "--dir", dir, export)
	before := tree(t, export)

	restored := filepath.Join(t.TempDir(), "restored")
	out := mustRun(t, "import", "--dir", restored, export)
	if want := "imported " + export + " copied into " + restored + ": 1 runs, last version 6"; !strings.Contains(out, want) {
		t.Errorf("import printed %q, want %q", out, want)
	}
	checkUnchanged(t, export, before)
	if got := mustRun(t, "kv", "get", "--dir", restored, "r", "k1"); got != "v1\n" {
		t.Errorf("kv get in the restored database: %q", got)
	}
	mustRun(t, "kv", "put", "--dir", restored, "r", "k9", "after")

	j := fromJSON[importJSON](t, mustRun(t, "import", "--json", export))
	if !j.InPlace || j.Dir != export || j.LastVersion != 6 {
		t.Errorf("import --json in place = %+v", j)
	}
	mustRun(t, "kv", "put", "--dir", export, "r", "k9", "after")
	// Imported (in place): no longer an export.
	if _, err := runCLI(t, "import", export); !errors.Is(err, inmem.ErrIncompleteExport) {
		t.Errorf("import of an imported export: %v", err)
	}
}

func TestImport_Refusals(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 2)
	export := filepath.Join(t.TempDir(), "backup")
	mustRun(t, "export", "--dir", dir, export)
	snaps, _ := filepath.Glob(filepath.Join(export, "SNAPSHOTS", "*.chk"))
	data, _ := os.ReadFile(snaps[0])
	data[len(data)/2] ^= 1
	if err := os.WriteFile(snaps[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	var out, errOut bytes.Buffer
	if code := execute([]string{"import", "--dir", restored, export}, &out, &errOut); code != exitCorrupt {
		t.Errorf("import of a damaged export: exit %d, %q", code, errOut.String())
	}
	if _, err := os.Stat(restored); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused import created %s", restored)
	}
	if code := execute([]string{"import", "--dir", restored, dir}, &out, &errOut); code != exitError ||
		!strings.Contains(errOut.String(), "not a complete export") {
		t.Errorf("import of a database: exit %d, %q", code, errOut.String())
	}
}
