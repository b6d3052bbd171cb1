package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
)

// TestRepair_KeepsOriginalsInLostFound damages a middle record, repairs and
// checks that the prefix opens and every original byte is in lost+found.
func TestRepair_KeepsOriginalsInLostFound(t *testing.T) {
	dir := t.TempDir()
	db, err := inmem.Open(dir, &inmem.Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	run, _ := db.GetOrCreateRun("r")
	for i := 0; i < 120; i++ {
		if _, err := db.KVPut(run, "k"+strings.Repeat("x", i%7), []byte(strings.Repeat("v", 90))); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	seg := filepath.Join(dir, "WAL", "wal-000002.seg")
	orig, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), orig...)
	damaged[200] ^= 0xff
	if err := os.WriteFile(seg, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	// Refused without repair.
	if code, _, _ := runExit(t, "verify", dir); code != exitCorrupt {
		t.Fatalf("verify exit %d, want %d", code, exitCorrupt)
	}
	code, out, errOut := runExit(t, "repair", dir)
	if code != exitOK {
		t.Fatalf("repair exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(out, "cut wal-000002.seg") || !strings.Contains(out, "moved wal-000003.seg") {
		t.Fatalf("repair output: %s", out)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "lost+found"))
	found := false
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, "lost+found", e.Name()))
		if strings.HasPrefix(e.Name(), "wal-000002.seg.") && string(b) == string(damaged) {
			found = true
		}
	}
	if !found {
		t.Fatalf("lost+found lacks the original damaged segment: %v", entries)
	}
	db, err = inmem.Open(dir, nil)
	if err != nil {
		t.Fatalf("the repaired database does not open: %v", err)
	}
	defer db.Close()
	if _, err := db.KVPut(run, "after", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// runExit runs the command line as main does and returns the exit status
// with what was printed.
func runExit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}
