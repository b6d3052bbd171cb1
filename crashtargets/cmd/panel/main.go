// Command panel measures what each engine configuration of crashtargets
// survives, the README's table: every configuration under in-mem's crash
// testers (kill: SIGKILL; the ext4 power cut in data=ordered and
// data=writeback; the barrier explorer's crash states), through the target
// protocol, with the scenarios' default workloads and lifecycle (puts,
// deletes, atomic batches, syncs, clean reopens). It prints a Markdown
// table, one row per configuration. The kernel columns need root, loop
// devices and FUSE; where they are missing they say so.
//
//	go -C crashtargets run ./cmd/panel                 # every configuration, seed 1
//	go -C crashtargets run ./cmd/panel -targets bbolt,pebble -iterations 20
//
// The binary serves the targets itself (panel serve-target): no other
// executable is needed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/in-mem/inmem/crashtargets"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/proc"
)

// serveArg makes the binary a target executable.
const serveArg = "serve-target"

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveArg {
		os.Exit(proc.TargetMain(os.Args[2:], crashtargets.All()))
	}
	// An interrupt stops the campaign under way, which cleans up (no mount
	// or loop device is left behind), and ends the panel.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// column is one tester of the table.
type column struct {
	title    string
	scenario string
	settings crashtest.Settings
	needs    func() error
}

var columns = []column{
	{"kill (SIGKILL)", "kill", crashtest.Settings{}, nil},
	{"ext4 power cut, data=ordered", "kernel", crashtest.Settings{"mount-opts": {"data=ordered"}}, kernel.Available},
	{"ext4 power cut, data=writeback", "kernel", crashtest.Settings{"mount-opts": {"data=writeback"}}, kernel.Available},
	{"barrier crash states (data=ordered)", "barriers", crashtest.Settings{}, kernel.BarriersAvailable},
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("panel", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "seed of every campaign")
	iterations := fs.Int("iterations", 8, "kills and power cuts per configuration and column (the barrier column explores one workload)")
	only := fs.String("targets", "", "comma-separated configurations (default: all, and py-sqlite and py-sqlite-off where python3 is found)")
	fs.SetOutput(errOut)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(errOut, "panel:", err)
		return 1
	}
	fmt.Fprintf(out, "| configuration | promises | %s |\n|---|---|%s\n", titles(), strings.Repeat("---|", len(columns)))
	for _, t := range targets(*only) {
		row, err := measure(ctx, t, self, *seed, *iterations, errOut)
		if err != nil {
			fmt.Fprintf(errOut, "panel: %s: %v\n", t.name, err)
			return 1
		}
		fmt.Fprintln(out, row)
	}
	fmt.Fprintf(out, "\nseed %d, %d kills or power cuts per cell, one recorded workload per barrier cell; %s\n", *seed, *iterations, time.Now().UTC().Format(time.DateOnly))
	return 0
}

func titles() string {
	var ts []string
	for _, c := range columns {
		ts = append(ts, c.title)
	}
	return strings.Join(ts, " | ")
}

// target is one row: a configuration and the executable serving it.
type target struct {
	name, promise string
	binary        string // "" for the configurations this binary serves
}

// targets lists the rows: the Go configurations (served by this binary)
// and the Python ones.
func targets(only string) []target {
	var out []target
	for _, tc := range crashtargets.Targets() {
		out = append(out, target{name: tc.Name, promise: promise(tc.Caps)})
	}
	if _, err := exec.LookPath("python3"); err == nil {
		py, _ := filepath.Abs(filepath.Join("python", "sqlite_target.py"))
		out = append(out, target{name: "py-sqlite", promise: "power safe", binary: py},
			target{name: "py-sqlite-off", promise: "process safe", binary: py})
	}
	if only == "" {
		return out
	}
	var picked []target
	for _, t := range out {
		if strings.Contains(","+only+",", ","+t.name+",") {
			picked = append(picked, t)
		}
	}
	return picked
}

func promise(c crashtest.Caps) string {
	switch {
	case c.PowerSafe:
		return "power safe"
	case c.ProcessSafe:
		return "process safe"
	}
	return "nothing"
}

// measure runs every column on one configuration and returns its row.
func measure(ctx context.Context, t target, self string, seed uint64, iterations int, errOut io.Writer) (string, error) {
	cells := []string{t.name, t.promise}
	for _, c := range columns {
		if c.needs != nil {
			if err := c.needs(); err != nil {
				cells = append(cells, "not run (needs root, loop devices, FUSE)")
				continue
			}
		}
		start := time.Now()
		cfg := campaignConfig(t, self, c, seed, iterations)
		rep, err := campaign.Run(ctx, cfg)
		os.RemoveAll(cfg.Dir)
		if err != nil {
			return "", fmt.Errorf("%s: %w", c.title, err)
		}
		fmt.Fprintf(errOut, "%s, %s: %s (%.0fs)\n", t.name, c.title, cell(rep), time.Since(start).Seconds())
		cells = append(cells, cell(rep))
	}
	return "| " + strings.Join(cells, " | ") + " |", nil
}

func campaignConfig(t target, self string, c column, seed uint64, iterations int) campaign.Config {
	set := crashtest.Settings{"target": {t.name}, "target-binary": {self}, "target-arg": {serveArg}}
	if t.binary != "" {
		set = crashtest.Settings{"target": {t.name}, "target-binary": {t.binary}}
	}
	for k, v := range c.settings {
		set[k] = v
	}
	n := iterations
	if c.scenario == "barriers" {
		n = 1
	}
	dir, _ := os.MkdirTemp("", "inmem-panel-")
	return campaign.Config{Scenarios: []string{c.scenario}, Seed: seed, Iterations: n, Dir: dir,
		Settings: map[string]crashtest.Settings{c.scenario: set}}
}

// cell says what one campaign found: the violations by class, or the
// losses the configuration does not promise to prevent, or that it kept
// everything; and the notices (crashes during the first creation).
func cell(rep *campaign.Report) string {
	s := rep.Summary[0]
	var parts []string
	switch {
	case s.Violations > 0:
		parts = append(parts, fmt.Sprintf("**%d of %d %s violate**: %s", s.Violations, s.Runs, s.Unit, classes(s.Classes, false)))
	case s.PermittedLoss > 0 || s.AckedLost > 0:
		parts = append(parts, fmt.Sprintf("loses acknowledged writes (%d, not promised)", s.PermittedLoss+s.AckedLost))
	default:
		parts = append(parts, fmt.Sprintf("keeps everything (%d %s, %d writes verified)", s.Runs, s.Unit, s.AckedVerified))
	}
	if n := s.Classes[crashtest.ClassCreation]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d creation notices", n))
	}
	return strings.Join(parts, "; ")
}

func classes(c crashtest.ClassCounts, notices bool) string {
	var parts []string
	for _, k := range c.Sorted() {
		if k != crashtest.ClassCreation || notices {
			parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
		}
	}
	return strings.Join(parts, ", ")
}
