package main

import (
	"bytes"
	"fmt"
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

// TestDurableEnd_NewestSegmentLost is the case that once went unnoticed:
// 300 Strict puts, a clean close, then the newest segment cut to half,
// deleted or zero-filled. verify exits 3, inspect reports the damage, the
// read commands refuse, and repair keeps the valid prefix (saying what it
// did), after which the database opens and verifies.
func TestDurableEnd_NewestSegmentLost(t *testing.T) {
	for _, damage := range []string{"cut to half", "deleted", "zero-filled"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			db, err := inmem.Open(dir, &inmem.Options{SegmentSize: 16 << 10})
			if err != nil {
				t.Fatal(err)
			}
			run, _ := db.GetOrCreateRun("r")
			for i := range 300 {
				if _, err := db.KVPut(run, fmt.Sprintf("k%03d", i), []byte(strings.Repeat("v", 90))); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "WAL", "wal-*.seg"))
			newest := segs[len(segs)-1]
			damageFile(t, newest, damage)
			before := tree(t, dir)
			if code, _, errOut := runExit(t, "verify", dir); code != exitCorrupt || !strings.Contains(errOut, filepath.Base(newest)) {
				t.Errorf("verify: exit %d, %q; want %d naming %s", code, errOut, exitCorrupt, newest)
			}
			if out := mustRun(t, "inspect", dir); !strings.Contains(out, "(Open refuses the database)") {
				t.Errorf("inspect found no damage:\n%s", out)
			}
			if code, _, _ := runExit(t, "kv", "keys", "--dir", dir, "r"); code != exitCorrupt {
				t.Errorf("kv keys: exit %d, want %d", code, exitCorrupt)
			}
			checkUnchanged(t, dir, before)
			code, out, errOut := runExit(t, "repair", dir)
			if code != exitOK || !strings.Contains(out, "damage:") || !strings.Contains(out, "repaired:") {
				t.Fatalf("repair: exit %d, %q %q", code, out, errOut)
			}
			if code, out, errOut := runExit(t, "verify", dir); code != exitOK {
				t.Fatalf("verify after repair: exit %d, %q %q", code, out, errOut)
			}
		})
	}
}

func damageFile(t *testing.T, path, how string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch how {
	case "cut to half":
		_, end := recordsOf(t, path)
		err = os.Truncate(path, end/2)
	case "deleted":
		err = os.Remove(path)
	case "zero-filled":
		err = os.WriteFile(path, make([]byte, len(data)), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
