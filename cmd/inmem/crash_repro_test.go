package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/internal/plant"
)

// TestCrash_PlantedBugReproduces proves, for every scenario, that a planted
// durability bug is reported as a violation, and that the command printed
// with it, parsed back and run, reproduces the same verdict; run without
// the bug, the same command passes (the verdict is the bug's, not noise).
func TestCrash_PlantedBugReproduces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario twice; skipped with -short")
	}
	tcs := []struct {
		scenario, bug string
		args          []string
		needs         func() error
	}{
		{"powerloss", "nosync", []string{"--ops", "60", "--durability", "strict", "--policies", "drop"}, nil},
		{"ioerrors", "swallow-sync-errors", []string{"--ops", "40", "--durability", "strict", "--error", "fsync"}, nil},
		{"matrix", "nosync", []string{"--point", "AfterFsync", "--type", "powerloss-drop", "--durability", "strict", "--runs", "1"}, nil},
		{"matrix", "recovery-no-sync", []string{"--point", "AfterWALWriteBeforeFsync", "--type", "kill-then-powerloss", "--durability", "buffered", "--runs", "1"}, nil},
		{"corrupt", "pit-recovery", []string{"--durability", "strict", "--iterations", "12"}, nil},
		{"kill", "user-buffer", []string{"--durability", "strict", "--whitebox", "0", "--signal", "kill", "--kill-after-acks", "20"}, nil},
		{"kernel", "nosync", []string{"--durability", "strict", "--mount-opts", "data=ordered", "--iterations", "3"}, kernel.Available},
		{"barriers", "nosync", []string{"--durability", "strict", "--ops", "24", "--states", "-1"}, kernel.BarriersAvailable},
		{"lazy", "no-dir-sync-after-create", []string{"--durability", "strict", "--ops", "32"}, lazyfs.Available},
		{"lazy", "no-tmp-sync", []string{"--durability", "buffered", "--ops", "32"}, lazyfs.Available},
	}
	for _, tc := range tcs {
		t.Run(tc.scenario+"/"+tc.bug, func(t *testing.T) {
			if tc.needs != nil {
				if err := tc.needs(); err != nil {
					t.Skipf("skipping %s: %v", tc.scenario, err)
				}
			}
			first := runPlanted(t, tc.bug, append([]string{"crash", tc.scenario, "--iterations", "1"}, tc.args...))
			if len(first.Violations) == 0 {
				t.Fatalf("the planted bug %q went unreported", tc.bug)
			}
			v := first.Violations[0]
			t.Logf("caught: %s\n%s\n  reproduce: %s", v.Summary, v.Detail, v.Reproduce)
			repro, err := parseCommand(v.Reproduce)
			if err != nil || !sameReproduction(repro, v.Reproduction) {
				t.Fatalf("the printed command %q parses back to %+v (%v), want %+v", v.Reproduce, repro, err, v.Reproduction)
			}
			args := commandArgs(t, v.Reproduce)
			again := runPlanted(t, tc.bug, args)
			if !hasViolation(again, v.Summary) {
				t.Fatalf("the reproduction did not reproduce %q: %d violations %v", v.Summary, len(again.Violations), summaries(again))
			}
			if clean := runPlanted(t, "", args); len(clean.Violations) != 0 {
				t.Fatalf("without the bug the reproduction still fails: %v", summaries(clean))
			}
		})
	}
}

// runPlanted runs the crash command args with the bug planted in process
// and in every child, and returns its JSON report.
func runPlanted(t *testing.T, bug string, args []string) *campaign.Report {
	t.Helper()
	plantBug = nil
	if bug != "" {
		b, err := plant.Named(bug)
		if err != nil {
			t.Fatal(err)
		}
		plantBug = b
	}
	t.Setenv(plantEnv, bug)
	defer func() { plantBug = nil }()
	js := filepath.Join(t.TempDir(), "report.json")
	code, out, errOut := runExit(t, append(args, "--json", js)...)
	want := exitOK
	if bug != "" {
		want = exitError
	}
	if code != want {
		t.Fatalf("inmem %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	rep, err := campaign.ReadJSONFile(js)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// commandArgs returns the arguments of a printed command, as a shell
// would split it, without the "go run ./cmd/inmem" that starts it.
func commandArgs(t *testing.T, command string) []string {
	t.Helper()
	words, err := shellSplit(command)
	if err != nil || len(words) < 4 || strings.Join(words[:3], " ") != commandPrefix {
		t.Fatalf("%q is not a command of this tool: %v", command, err)
	}
	return words[3:]
}

func sameReproduction(a, b crashtest.Reproduction) bool {
	return commandOf(a) == commandOf(b)
}

func hasViolation(rep *campaign.Report, summary string) bool {
	for _, v := range rep.Violations {
		if v.Summary == summary {
			return true
		}
	}
	return false
}

func summaries(rep *campaign.Report) []string {
	var s []string
	for _, v := range rep.Violations {
		s = append(s, v.Summary)
	}
	return s
}

// TestCommandOf_RoundTrip: a reproduction spelled as a command parses back
// to itself, quoting included.
func TestCommandOf_RoundTrip(t *testing.T) {
	tcs := []crashtest.Reproduction{
		{Scenario: "powerloss", Seed: 12, Durability: "buffered", Iterations: 1, Params: []crashtest.Setting{
			{Name: "ops", Value: "200"}, {Name: "at", Value: "317"}, {Name: "policy", Value: "random:95183"}}},
		{Scenario: "kernel", Seed: 7, Iterations: 4, Params: []crashtest.Setting{
			{Name: "mount-opts", Value: "data=writeback,commit=1"}, {Name: "mount-opts", Value: "data=journal"},
			{Name: "kill-first", Value: "true"}, {Name: "target-binary", Value: "/tmp/my targets/it's"}}},
		{Scenario: "corrupt", Seed: 0},
	}
	for _, r := range tcs {
		cmd := commandOf(r)
		back, err := parseCommand(cmd)
		if err != nil || commandOf(back) != cmd {
			t.Errorf("%q parses back to %q (%v)", cmd, commandOf(back), err)
		}
	}
	if _, err := parseCommand("go run ./cmd/inmem kv get x y"); err == nil {
		t.Error("a command that is not a crash command parsed")
	}
	if _, err := parseCommand("inmem crash powerloss --at 'unterminated"); err == nil {
		t.Error("an unterminated quote parsed")
	}
}
