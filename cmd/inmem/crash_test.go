package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/proc"
)

// TestMain lets this test binary be the kill scenario's workload child: the
// crash commands run os.Executable() with "crash child" and ChildEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(proc.ChildEnv) == "1" {
		args := os.Args[1:]
		if len(args) >= 2 && args[0] == "crash" && args[1] == "child" {
			args = args[2:]
		}
		os.Exit(proc.ChildMain(args))
	}
	os.Exit(m.Run())
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

func TestCrash_BadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"crash", "all", "--shard", "3/2"},
		{"crash", "all", "--durability", "sometimes"},
		{"crash", "matrix", "--point", "Nowhere"},
		{"crash", "kill", "--signal", "hup"},
		{"crash", "powerloss", "--policy", "random"},
		{"crash", "ioerrors", "--error", "gremlins"},
	} {
		if code, _, _ := runExit(t, args...); code != exitUsage {
			t.Errorf("inmem %s: exit %d, want %d", strings.Join(args, " "), code, exitUsage)
		}
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
