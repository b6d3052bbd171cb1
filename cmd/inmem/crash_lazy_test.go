package main

import (
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/lazyfs"
)

// TestCrash_Lazy runs `inmem crash lazy` on a small workload.
func TestCrash_Lazy(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		t.Skipf("skipping inmem crash lazy: %v", err)
	}
	code, out, errOut := runExit(t, "crash", "lazy", "--ops", "16", "--iterations", "1", "--durability", "strict",
		"--dir", t.TempDir())
	if code != exitOK || !strings.Contains(out, "crash states") || !strings.Contains(out, "PASS: every promise held") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestCrash_LazyBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"crash", "lazy", "--target", "sqlite"},
		{"crash", "lazy", "--at", "3"},
		{"crash", "lazy", "--at", "3", "--policy", "pages"},
		{"crash", "lazy", "--policies", "drop,sometimes"},
	} {
		if code, _, errOut := runExit(t, args...); code != exitUsage {
			t.Errorf("inmem %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errOut)
		}
	}
}
