package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// The crash campaign commands: `inmem crash matrix|kill|powerloss|ioerrors|
// corrupt|all`, each a thin layer over crashtest.RunCampaign, plus the
// hidden `inmem crash child` the kill scenario runs as its workload.

func init() { register(newCrashCmd) }

// errViolations makes the exit status non-zero when a promise broke.
var errViolations = errors.New("crash campaign found violations")

// campaignFlags are the flags every campaign command shares. --json and
// --durability shadow the global flags of the same name with the meanings
// the campaign needs (a report file; both modes by default).
type campaignFlags struct {
	seed       uint64
	duration   time.Duration
	iterations int
	durability string
	shard      string
	jsonFile   string
	htmlFile   string
	ops        int
}

func (f *campaignFlags) add(c *cobra.Command, duration time.Duration, reports bool) {
	fl := c.Flags()
	fl.Uint64Var(&f.seed, "seed", 1, "seed of every random choice; the same seed reruns the same campaign")
	fl.DurationVar(&f.duration, "duration", duration, "time budget (ignored with --iterations)")
	fl.IntVar(&f.iterations, "iterations", 0, "a fixed amount of work per scenario and durability instead of a time budget")
	fl.StringVar(&f.durability, "durability", "both", "strict, buffered or both")
	fl.StringVar(&f.shard, "shard", "0/1", "run shard i of n (i/n); each shard is reproducible alone")
	fl.IntVar(&f.ops, "ops", 200, "operations per workload (powerloss, ioerrors)")
	jsonDefault, htmlDefault := "", ""
	if reports {
		jsonDefault, htmlDefault = "crash-report.json", "crash-report.html"
	}
	fl.StringVar(&f.jsonFile, "json", jsonDefault, "write the JSON report to this file (empty: none)")
	fl.StringVar(&f.htmlFile, "html", htmlDefault, "write the HTML report to this file (empty: none)")
}

// config builds the campaign configuration the flags describe.
func (f *campaignFlags) config(scenarios ...string) (crashtest.CampaignConfig, error) {
	cfg := crashtest.CampaignConfig{Scenarios: scenarios, Seed: f.seed, Duration: f.duration, Iterations: f.iterations, Ops: f.ops}
	switch f.durability {
	case "both":
		cfg.Durabilities = []inmem.Durability{inmem.Strict, inmem.Buffered}
	case "strict", "buffered":
		d, _ := inmem.ParseDurability(f.durability)
		cfg.Durabilities = []inmem.Durability{d}
	default:
		return cfg, usagef("--durability %q: want strict, buffered or both", f.durability)
	}
	i, n, err := parseShard(f.shard)
	if err != nil {
		return cfg, err
	}
	cfg.Shard, cfg.Shards = i, n
	exe, err := os.Executable()
	if err != nil {
		return cfg, fmt.Errorf("finding this program to run as the workload child: %w", err)
	}
	cfg.Binary, cfg.Args, cfg.Env = exe, []string{"crash", "child"}, []string{crashtest.ChildEnv + "=1"}
	cfg.Command = "go run ./cmd/inmem"
	return cfg, nil
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

// runCampaign runs cfg with progress on stderr, prints the summary table,
// writes the reports and returns errViolations if a promise broke.
func runCampaign(cmd *cobra.Command, f *campaignFlags, cfg crashtest.CampaignConfig) error {
	if cfg.Dir == "" {
		tmp, err := os.MkdirTemp("", "inmem-crash-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg.Dir = tmp
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	fmt.Fprintf(errOut, "in-mem crash campaign: %s, seed %d, shard %d/%d, %s\n",
		strings.Join(cfg.Scenarios, ", "), cfg.Seed, cfg.Shard, cfg.Shards, budgetText(cfg))
	p := newProgress(errOut)
	cfg.Progress = p.update
	rep, err := crashtest.RunCampaign(cfg)
	p.finish()
	if rep != nil {
		rep.WriteTable(out)
		if werr := writeReports(out, rep, f); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.Passed {
		return fmt.Errorf("%w: %d (see above for the commands that reproduce them)", errViolations, len(rep.Violations))
	}
	return nil
}

func budgetText(cfg crashtest.CampaignConfig) string {
	if cfg.Iterations > 0 {
		return fmt.Sprintf("%d iterations per scenario", cfg.Iterations)
	}
	return fmt.Sprintf("about %s", cfg.Duration)
}

func writeReports(out io.Writer, rep *crashtest.Report, f *campaignFlags) error {
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

// progress shows a bar on a terminal and plain lines otherwise.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	key   string
	last  time.Time
	start time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) update(u crashtest.Progress) {
	key := u.Scenario + " " + u.Durability
	desc := fmt.Sprintf("%-10s %-8s violations %d", u.Scenario, u.Durability, u.Violations)
	if isTerminal(p.w) {
		if key != p.key {
			if p.bar != nil {
				p.bar.Finish()
				fmt.Fprintln(p.w)
			}
			total := int64(u.Total)
			if total <= 0 {
				total = -1 // a spinner: the scenario runs on a time budget
			}
			p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(30), progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish())
			p.key = key
		}
		p.bar.Describe(desc)
		p.bar.Set(u.Done)
		return
	}
	if key != p.key || time.Since(p.last) >= 2*time.Second || (u.Total > 0 && u.Done == u.Total) {
		total := "?"
		if u.Total > 0 {
			total = fmt.Sprint(u.Total)
		}
		fmt.Fprintf(p.w, "[%6.1fs] %s: %d/%s %s\n", time.Since(p.start).Seconds(), desc, u.Done, total, u.Note)
		p.key, p.last = key, time.Now()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

func newCrashCmd(g *globals) *cobra.Command {
	c := newGroupCmd("crash", "Crash-test in-mem: real kills, power loss, I/O errors and damaged files, judged by a reference model",
		newCrashAllCmd(g), newCrashMatrixCmd(g), newCrashKillCmd(g), newCrashPowerLossCmd(g),
		newCrashIOErrorsCmd(g), newCrashCorruptCmd(g), newCrashKernelCmd(g), newCrashBarriersCmd(g),
		newCrashChildCmd(), newCrashTargetChildCmd())
	c.Long = `inmem crash attacks an in-mem database every way the harness knows and judges
every recovered state against a reference model: prefix consistency, the
durability mode's promise, atomic transactions, exact versions, no bytes that
were never written.

  all        every scenario below, about a minute (the default campaign)
  matrix     every crash point × {real SIGKILL, power loss dropping or keeping
             a random torn subset of unsynced data} × {strict, buffered}
  kill       real SIGKILL/SIGABRT/SIGSEGV of a workload child, consecutive
             crashes on one directory, some at whitebox crash points
  powerloss  every sync point of a seeded workload, every crash policy
  ioerrors   EIO, ENOSPC, short writes and failed fsyncs at every operation
  corrupt    damaged files: torn tails, bit rot, missing segments, a bad
             MANIFEST or snapshot
  kernel     a real power cut under ext4 on a loop device (root; not in all)
  barriers   every crash state of ext4's own writes and flushes, recorded
             through FUSE (root; not in all)

Each prints progress, a summary table and, for every violation, the one
command that reproduces it; the exit status is non-zero on any violation.`
	return c
}

func newCrashAllCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	c := &cobra.Command{
		Use:   "all",
		Short: "Run every crash scenario (about a minute by default) and write crash-report.json and .html",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.AllScenarios()...)
			if err != nil {
				return err
			}
			cfg.Dir = g.dir
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, time.Minute, true)
	return c
}
