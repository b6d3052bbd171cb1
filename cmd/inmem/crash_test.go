package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/internal/plant"
)

// mainEnv makes this test binary the inmem tool itself, for tests that
// need a real process (to send it a signal).
const mainEnv = "INMEM_TEST_MAIN"

// plantEnv names a bug (package plant) that the workload child plants in
// its own database: how a test reaches the children of a campaign.
const plantEnv = "INMEM_TEST_PLANT"

// TestMain lets this test binary be the scenarios' workload child and
// target child: the crash commands run os.Executable() with "crash child"
// and ChildEnv set (or "crash target-child" and TargetChildEnv).
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(proc.ChildEnv) == "1":
		os.Exit(proc.ChildMain(strip(os.Args[1:], "child"), childPlant()...))
	case os.Getenv(proc.TargetChildEnv) == "1":
		os.Exit(proc.TargetMain(strip(os.Args[1:], "target-child"), crashtest.InmemTargets()))
	case os.Getenv(mainEnv) == "1":
		os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func strip(args []string, sub string) []string {
	if len(args) >= 2 && args[0] == "crash" && args[1] == sub {
		return args[2:]
	}
	return args
}

// childPlant returns the option that plants the bug plantEnv names.
func childPlant() []proc.ChildOption {
	name := os.Getenv(plantEnv)
	if name == "" {
		return nil
	}
	bug, err := plant.Named(name)
	if err != nil {
		panic(err)
	}
	return []proc.ChildOption{func(o *inmem.Options) { *o = *crashtest.Planted(*o, bug) }}
}

func TestCrash_EveryScenarioWritesReports(t *testing.T) {
	for _, sc := range []string{"kill", "powerloss", "ioerrors", "corrupt"} {
		t.Run(sc, func(t *testing.T) {
			dir := t.TempDir()
			js, html := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
			args := []string{"crash", sc, "--iterations", "2", "--durability", "strict", "--dir", dir, "--json", js, "--html", html}
			if sc == "powerloss" || sc == "ioerrors" {
				args = append(args, "--ops", "60")
			}
			code, out, errOut := runExit(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(out, "PASS: every promise held") || !strings.Contains(out, sc) {
				t.Fatalf("no summary table:\n%s", out)
			}
			b, err := os.ReadFile(js)
			if err != nil {
				t.Fatal(err)
			}
			var rep campaign.Report
			if err := json.Unmarshal(b, &rep); err != nil || !rep.Passed || len(rep.Summary) != 1 || rep.Summary[0].Runs == 0 {
				t.Fatalf("report %+v, %v", rep.Summary, err)
			}
			if h, err := os.ReadFile(html); err != nil || !strings.Contains(string(h), "in-mem crash campaign") {
				t.Fatalf("HTML report: %v", err)
			}
		})
	}
}

func TestCrash_MatrixOneCell(t *testing.T) {
	code, out, errOut := runExit(t, "crash", "matrix", "--point", "AfterFsync", "--type", "kill", "--durability", "strict", "--runs", "1")
	if code != exitOK || !strings.Contains(out, "matrix") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestCrash_BadFlags: a bad flag is a usage error (exit 2) before any
// work, never a verdict, and nothing is written.
func TestCrash_BadFlags(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "MANIFEST"), []byte("someone's database"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"crash", "all", "--shard", "3/2"},
		{"crash", "all", "--durability", "sometimes"},
		{"crash", "all", "--duration", "-5s"},
		{"crash", "all", "--iterations", "-1"},
		{"crash", "matrix", "--point", "Nowhere"},
		{"crash", "matrix", "--runs", "0"},
		{"crash", "kill", "--signal", "hup"},
		{"crash", "kill", "--writers", "0"},
		{"crash", "kill", "--whitebox", "101"},
		{"crash", "kill", "--min-runtime", "2s", "--max-runtime", "1s"},
		{"crash", "kill", "--dir", full},
		{"crash", "powerloss", "--policy", "random"},
		{"crash", "powerloss", "--policy", "drop"}, // needs --at
		{"crash", "powerloss", "--at", "-5", "--iterations", "1"},
		{"crash", "powerloss", "--at", "99999", "--iterations", "1", "--ops", "20", "--durability", "strict"},
		{"crash", "powerloss", "--ops", "many"},
		{"crash", "ioerrors", "--error", "gremlins"},
		{"crash", "ioerrors", "--at", "99999", "--iterations", "1", "--ops", "20", "--durability", "strict"},
		{"crash", "corrupt", "--dir", file},
		{"crash", "merge"},
	} {
		code, out, errOut := runExit(t, args...)
		if code != exitUsage || strings.Contains(out, "PASS") || strings.Contains(out, "FAIL") {
			t.Errorf("inmem %s: exit %d, want %d, and no verdict\n%s%s", strings.Join(args, " "), code, exitUsage, out, errOut)
		}
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("a refused --dir was written into: %v", entries)
	}
}

func TestParseShard(t *testing.T) {
	tcs := []struct {
		in   string
		i, n int
		ok   bool
	}{
		{"0/1", 0, 1, true}, {"2/4", 2, 4, true}, {"4/4", 0, 0, false}, {"-1/2", 0, 0, false}, {"x", 0, 0, false}, {"1/0", 0, 0, false},
	}
	for _, tc := range tcs {
		i, n, err := parseShard(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (i != tc.i || n != tc.n)) {
			t.Errorf("parseShard(%q) = %d, %d, %v", tc.in, i, n, err)
		}
	}
}

// TestCrash_SignalStopsCleanly sends SIGTERM to a kill campaign: it must
// stop after the kill under way, remove its scratch space (and the --dir
// it made), write the partial report and exit with 130.
func TestCrash_SignalStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a campaign in a child process; skipped with -short")
	}
	tmp, base := t.TempDir(), t.TempDir()
	dir, js := filepath.Join(base, "scratch"), filepath.Join(base, "r.json")
	cmd := exec.Command(os.Args[0], "crash", "kill", "--duration", "2m", "--durability", "strict", "--dir", dir, "--json", js)
	cmd.Env = append(os.Environ(), mainEnv+"=1", "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a few kills in
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %v, want %d\n%s", err, exitInterrupted, stderr.String())
	}
	rep, err := campaign.ReadJSONFile(js)
	if err != nil || !rep.Interrupted || rep.Passed || len(rep.Summary) == 0 || rep.Summary[0].Runs == 0 {
		t.Fatalf("partial report: %v %+v", err, rep)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the scratch directory the campaign made is still there: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("scratch space left in TMPDIR: %v", left)
	}
}

// TestCrash_Merge runs a campaign in two shards and merges their reports;
// a shard given twice is refused.
func TestCrash_Merge(t *testing.T) {
	dir := t.TempDir()
	var shards []string
	for i := range 2 {
		js := filepath.Join(dir, fmt.Sprintf("shard%d.json", i))
		code, out, errOut := runExit(t, "crash", "corrupt", "--iterations", "2", "--durability", "strict", "--seed", "9",
			"--shard", fmt.Sprintf("%d/2", i), "--json", js)
		if code != exitOK {
			t.Fatalf("shard %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
		shards = append(shards, js)
	}
	all, html := filepath.Join(dir, "all.json"), filepath.Join(dir, "all.html")
	code, out, errOut := runExit(t, append(append([]string{"crash", "merge"}, shards...), "--json", all, "--html", html)...)
	if code != exitOK || !strings.Contains(out, "shards [0 1] of 2 merged") {
		t.Fatalf("merge: exit %d\n%s\n%s", code, out, errOut)
	}
	rep, err := campaign.ReadJSONFile(all)
	if err != nil || rep.Summary[0].Runs != 4 || !rep.Passed {
		t.Fatalf("merged report: %v %+v", err, rep)
	}
	if code, _, errOut := runExit(t, "crash", "merge", shards[0], shards[0]); code != exitUsage || !strings.Contains(errOut, "already merged") {
		t.Fatalf("a shard twice: exit %d: %s", code, errOut)
	}
}
