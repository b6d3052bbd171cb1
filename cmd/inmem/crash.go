package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
	"github.com/in-mem/inmem/crashtest/proc"
)

// The crash commands: one per scenario of campaign.Scenarios (each with
// the common flags below and its own), `all`, `merge`, and the hidden
// workload children the scenarios run. Nothing here knows a scenario by
// name: a scenario added to the registry gets its command from it.

func init() { register(newCrashCmd) }

// plantBug is a test seam: this command's tests set it to plant a bug in
// every database a campaign opens in this process (see
// crashtest.Session.Plant). It is nil in the shipped tool.
var plantBug func(*inmem.Options)

// errViolations makes the exit status non-zero when a promise broke.
var errViolations = errors.New("crash campaign found violations")

// errInterrupted says a campaign stopped early on a signal.
var errInterrupted = errors.New("interrupted: the campaign stopped early (its scratch space is removed; the reports hold what was done)")

// campaignFlags are the flags every campaign command shares. --json and
// --durability shadow the global flags of the same name with the meanings
// a campaign needs (a report file; both modes by default).
type campaignFlags struct {
	seed       uint64
	duration   time.Duration
	iterations int
	durability string
	shard      string
	jsonFile   string
	htmlFile   string
	dir        string
	reuseDir   bool
}

func (f *campaignFlags) add(c *cobra.Command, duration time.Duration, reports bool) {
	fl := c.Flags()
	fl.Uint64Var(&f.seed, "seed", 1, "seed of every random choice; the same seed reruns the same campaign")
	fl.DurationVar(&f.duration, "duration", duration, "time budget (ignored with --iterations)")
	fl.IntVar(&f.iterations, "iterations", 0, "a fixed amount of work per scenario and durability instead of a time budget")
	fl.StringVar(&f.durability, "durability", "both", "strict, buffered or both")
	fl.StringVar(&f.shard, "shard", "0/1", "run shard i of n (i/n); each shard is reproducible alone")
	fl.StringVar(&f.dir, "dir", "", "scratch space: a new or empty directory (default: a temporary one, removed afterwards)")
	fl.BoolVar(&f.reuseDir, "reuse-dir", false, "let --dir be a directory that is not empty (scratch space goes in a new directory inside it)")
	jsonDefault, htmlDefault := "", ""
	if reports {
		jsonDefault, htmlDefault = "crash-report.json", "crash-report.html"
	}
	fl.StringVar(&f.jsonFile, "json", jsonDefault, "write the JSON report to this file (empty: none)")
	fl.StringVar(&f.htmlFile, "html", htmlDefault, "write the HTML report to this file (empty: none)")
}

// config builds the campaign the flags describe, checking every flag.
func (f *campaignFlags) config(scenarios []string, settings map[string]crashtest.Settings) (campaign.Config, error) {
	cfg := campaign.Config{Scenarios: scenarios, Seed: f.seed, Duration: f.duration, Iterations: f.iterations, Settings: settings}
	switch {
	case f.duration <= 0:
		return cfg, usagef("--duration %s: want a positive duration", f.duration)
	case f.iterations < 0:
		return cfg, usagef("--iterations %d: want a positive number (0: run on the time budget)", f.iterations)
	}
	var err error
	if cfg.Durabilities, err = parseDurabilities(f.durability); err != nil {
		return cfg, err
	}
	if cfg.Shard, cfg.Shards, err = parseShard(f.shard); err != nil {
		return cfg, err
	}
	cfg.Child, cfg.TargetChild, err = children()
	return cfg, err
}

func parseDurabilities(s string) ([]inmem.Durability, error) {
	switch s {
	case "both":
		return []inmem.Durability{inmem.Strict, inmem.Buffered}, nil
	case "strict":
		return []inmem.Durability{inmem.Strict}, nil
	case "buffered":
		return []inmem.Durability{inmem.Buffered}, nil
	}
	return nil, usagef("--durability %q: want strict, buffered or both", s)
}

func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, usagef("--shard %q: want i/n with 0 <= i < n", s)
	}
	return i, n, nil
}

// children returns how the scenarios start this program as their workload
// child and as a target child serving in-mem's own targets.
func children() (crashtest.Child, crashtest.Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return crashtest.Child{}, crashtest.Child{}, fmt.Errorf("finding this program to run as the workload child: %w", err)
	}
	return crashtest.Child{Binary: exe, Args: []string{"crash", "child"}, Env: []string{proc.ChildEnv + "=1"}},
		crashtest.Child{Binary: exe, Args: []string{"crash", "target-child"}, Env: []string{proc.TargetChildEnv + "=1"}}, nil
}

// scratch checks --dir and returns the directory scratch space goes in,
// and what to do when the campaign is over: remove what the campaign made.
func scratch(dir string, reuse bool) (string, func() error, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "inmem-crash-")
		return tmp, func() error { return os.RemoveAll(tmp) }, err
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		return dir, func() error { return removeIfEmpty(dir) }, nil
	case err != nil:
		return "", nil, err
	case !info.IsDir():
		return "", nil, usagef("--dir %s: not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, err
	}
	if len(entries) > 0 && !reuse {
		return "", nil, usagef("--dir %s is not empty: give an empty or new directory, or --reuse-dir to put the scratch space in a new directory inside it", dir)
	}
	return dir, func() error { return nil }, nil
}

// removeIfEmpty removes a directory the campaign made, unless the user put
// something in it (a report).
func removeIfEmpty(dir string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		return err
	}
	return nil
}

// interruptible returns a context cancelled at the first SIGINT or SIGTERM:
// the campaign then stops after the work under way, cleans up and writes
// its partial report. A second signal kills as usual.
func interruptible(errOut io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			signal.Stop(sigs)
			fmt.Fprintln(errOut, "interrupted: finishing the work under way, then cleaning up and writing the reports (interrupt again to kill)")
			cancel()
		case <-done:
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel() }
}

// runCampaign runs cfg with progress on stderr, prints the summary table,
// writes the reports and returns errViolations if a promise broke.
func runCampaign(cmd *cobra.Command, f *campaignFlags, cfg campaign.Config) (err error) {
	if err := campaign.Check(cfg); err != nil {
		return settingError(err)
	}
	dir, cleanup, err := scratch(f.dir, f.reuseDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	cfg.Dir, cfg.Plant = dir, plantBug
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	fmt.Fprintf(errOut, "in-mem crash campaign: %s, seed %d, shard %d/%d, %s\n",
		strings.Join(scenarioNames(cfg), ", "), cfg.Seed, cfg.Shard, cfg.Shards, budgetText(cfg))
	ctx, release := interruptible(errOut)
	defer release()
	p := newProgress(errOut)
	cfg.Progress = p.update
	rep, err := campaign.Run(ctx, cfg)
	p.finish()
	return report(out, rep, f, err)
}

// report prints and writes a campaign's report, and turns its outcome into
// the command's error.
func report(out io.Writer, rep *campaign.Report, f *campaignFlags, err error) error {
	if rep == nil || errors.Is(err, crashtest.ErrBadSetting) {
		return settingError(err) // a setting only the work could check: no verdict
	}
	rep.SetCommands(commandOf)
	rep.WriteTable(out)
	werr := writeReports(out, rep, f)
	switch {
	case errors.Is(err, context.Canceled):
		return errors.Join(errInterrupted, werr)
	case err != nil:
		return errors.Join(err, werr)
	case werr != nil:
		return werr
	case !rep.Passed:
		return fmt.Errorf("%w: %d (see above for the commands that reproduce them)", errViolations, len(rep.Violations))
	}
	return nil
}

// settingError makes a bad setting a usage error, spelled as flags.
func settingError(err error) error {
	var se *crashtest.SettingError
	if errors.As(err, &se) {
		if se.Value == "" {
			return usagef("--%s: %s", se.Name, se.Want)
		}
		return usagef("--%s %s: %s", se.Name, se.Value, se.Want)
	}
	return err
}

func scenarioNames(cfg campaign.Config) []string {
	if len(cfg.Scenarios) == 0 {
		return campaign.Default()
	}
	return cfg.Scenarios
}

func budgetText(cfg campaign.Config) string {
	if cfg.Iterations > 0 {
		return fmt.Sprintf("%d iterations per scenario", cfg.Iterations)
	}
	return fmt.Sprintf("about %s", cfg.Duration)
}

func writeReports(out io.Writer, rep *campaign.Report, f *campaignFlags) error {
	if f.jsonFile != "" {
		if err := rep.WriteJSONFile(f.jsonFile); err != nil {
			return err
		}
		fmt.Fprintf(out, "JSON report: %s\n", f.jsonFile)
	}
	if f.htmlFile != "" {
		if err := rep.WriteHTMLFile(f.htmlFile); err != nil {
			return err
		}
		fmt.Fprintf(out, "HTML report: %s\n", f.htmlFile)
	}
	return nil
}

func newCrashCmd(g *globals) *cobra.Command {
	cmds := []*cobra.Command{newCrashAllCmd(g)}
	var lines []string
	for _, sc := range campaign.Scenarios() {
		cmds = append(cmds, newScenarioCmd(g, sc))
		h := sc.Help()
		note := ""
		if _, ok := sc.(crashtest.Conditional); ok && h.InAll {
			note = " (in all where it can run)"
		} else if !h.InAll {
			note = " (not in all)"
		}
		lines = append(lines, fmt.Sprintf("  %-10s %s%s", sc.Name(), h.Short, note))
	}
	cmds = append(cmds, newCrashMergeCmd(), newCrashChildCmd(), newCrashTargetChildCmd())
	c := newGroupCmd("crash", "Crash-test in-mem: real kills, power loss, I/O errors and damaged files, judged by a reference model", cmds...)
	c.Long = `inmem crash attacks an in-mem database every way the harness knows and judges
every recovered state against a reference model: prefix consistency, the
durability mode's promise, atomic transactions, exact versions, no bytes that
were never written.

  all        every scenario that runs anywhere, about a minute (the default campaign)
` + strings.Join(lines, "\n") + `
  merge      join the JSON reports of a campaign's shards into one report

Each prints progress, a summary table and, for every violation, the one
command that reproduces it; the exit status is 1 on any violation, 2 on a bad
flag (checked before any work) and 130 when interrupted (SIGINT or SIGTERM:
the work under way finishes, scratch space is removed, the reports are
written).`
	return c
}

func newCrashAllCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	c := &cobra.Command{
		Use:   "all",
		Short: "Run every scenario that runs anywhere (about a minute by default) and write crash-report.json and .html",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(campaign.Default(), nil)
			if err != nil {
				return err
			}
			for _, sk := range campaign.Skipped() {
				fmt.Fprintf(cmd.ErrOrStderr(), "crash all: skipping %s, which cannot run here: %v\n", sk.Scenario, sk.Reason)
			}
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, time.Minute, true)
	return c
}

// newScenarioCmd is `inmem crash NAME`: the common flags and the
// scenario's own.
func newScenarioCmd(g *globals, sc crashtest.Scenario) *cobra.Command {
	f := &campaignFlags{}
	pf := &paramFlags{}
	h := sc.Help()
	c := &cobra.Command{
		Use:   sc.Name(),
		Short: h.Short,
		Long:  h.Long,
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config([]string{sc.Name()}, map[string]crashtest.Settings{sc.Name(): pf.given(cmd)})
			if err != nil {
				return err
			}
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, h.Budget, false)
	pf.add(c, sc.Params())
	return c
}
