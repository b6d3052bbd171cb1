package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/internal/testutil"
)

// childEnv makes this test binary the program itself.
const childEnv = "LAZYRENAME_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLazyRename runs the program on a lazy filesystem, as a separate
// process, and crashes the mount after it said "saved": without
// --sync-dir some crash loses the save, and the report says which
// unsynced change it was; with --sync-dir every crash keeps it.
func TestLazyRename(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		t.Skipf("skipping: the lazy filesystem needs FUSE: %v", err)
	}
	seed := testutil.Seed(t, "./examples/lazyrename")
	for _, syncDir := range []bool{false, true} {
		lost := lostSaves(t, syncDir, seed)
		switch {
		case !syncDir && len(lost) == 0:
			t.Errorf("without --sync-dir no crash lost the save (seed %d)", seed)
		case syncDir && len(lost) > 0:
			t.Errorf("with --sync-dir crashes lost the save (seed %d):\n%s", seed, strings.Join(lost, "\n"))
		}
		for _, l := range lost {
			t.Logf("flagged: %s", l)
		}
	}
}

// lostSaves saves twice, crashes under each policy after the second save
// and returns how each crash that lost it did so.
func lostSaves(t *testing.T, syncDir bool, seed uint64) []string {
	mnt := t.TempDir()
	f, err := lazyfs.Mount("", mnt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Unmount(); err != nil {
			t.Error(err)
		}
	}()
	var lost []string
	for _, p := range []string{"drop", "keep", fmt.Sprintf("reorder:%d", seed), fmt.Sprintf("pages:%d", seed)} {
		policy, err := lazyfs.ParsePolicy(p)
		if err != nil {
			t.Fatal(err)
		}
		run(t, syncDir, mnt, "v1")
		if err := f.Clear(); err != nil { // v1 is durable: only v2 is at stake
			t.Fatal(err)
		}
		run(t, syncDir, mnt, "v2")
		rep, err := f.Crash(policy)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(mnt, "config")); err != nil || string(got) != "v2" {
			lost = append(lost, fmt.Sprintf("after \"saved\", config holds %q (%v)\n%s", got, err, rep))
		}
	}
	return lost
}

// run runs the program, as its own process, on dir.
func run(t *testing.T, syncDir bool, dir, content string) {
	t.Helper()
	args := []string{dir, "config", content}
	if syncDir {
		args = append([]string{"--sync-dir"}, args...)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "saved" {
		t.Fatalf("lazyrename %v: %v\n%s", args, err, out)
	}
}
