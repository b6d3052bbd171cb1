// Package campaign runs crash scenarios on a time budget and reports what
// they found: the registry of every scenario, Run, and the report (a
// table, JSON and a self-contained HTML page), which shards of one
// campaign can Merge.
//
// The registry is the one place that knows every scenario: a scenario
// listed in Scenarios is run by `inmem crash all` (if its Help says so),
// gets its own `inmem crash NAME` command with its Params as flags, and
// shows up in the report, without any other code naming it.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/corrupt"
	"github.com/in-mem/inmem/crashtest/ioerr"
	"github.com/in-mem/inmem/crashtest/kernel"
	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/crashtest/matrix"
	"github.com/in-mem/inmem/crashtest/powerloss"
	"github.com/in-mem/inmem/crashtest/proc"
)

// Scenarios returns every scenario, in the order a campaign runs them.
func Scenarios() []crashtest.Scenario {
	return []crashtest.Scenario{
		matrix.Scenario, proc.Scenario, powerloss.Scenario, ioerr.Scenario, corrupt.Scenario,
		kernel.KernelScenario, kernel.BarriersScenario, lazyfs.Scenario,
	}
}

// Lookup returns the scenario named name.
func Lookup(name string) (crashtest.Scenario, error) {
	var names []string
	for _, sc := range Scenarios() {
		if sc.Name() == name {
			return sc, nil
		}
		names = append(names, sc.Name())
	}
	return nil, &crashtest.SettingError{Name: "scenario", Value: name, Want: fmt.Sprintf("want one of %v", names)}
}

// Default returns the names of the scenarios a campaign runs when it is
// given none: those whose Help says InAll, and that can run here (see
// Skipped).
func Default() []string {
	var names []string
	for _, sc := range Scenarios() {
		if sc.Help().InAll && unavailable(sc) == nil {
			names = append(names, sc.Name())
		}
	}
	return names
}

// Skip is a scenario a campaign given no list leaves out on this machine,
// and why.
type Skip struct {
	Scenario string
	Reason   error
}

// Skipped returns the scenarios whose Help says InAll that cannot run
// here (crashtest.Conditional), with what is missing.
func Skipped() []Skip {
	var out []Skip
	for _, sc := range Scenarios() {
		if err := unavailable(sc); sc.Help().InAll && err != nil {
			out = append(out, Skip{sc.Name(), err})
		}
	}
	return out
}

func unavailable(sc crashtest.Scenario) error {
	if c, ok := sc.(crashtest.Conditional); ok {
		return c.Unavailable()
	}
	return nil
}

// Config configures a campaign.
type Config struct {
	// Scenarios to run, by name (default: Default()).
	Scenarios []string
	// Seed drives every random choice: the same seed and shard rerun the
	// same work.
	Seed uint64
	// Duration is the whole campaign's time budget, shared by its
	// scenarios and durability modes (default a minute).
	Duration time.Duration
	// Iterations, if positive, is a fixed amount of work per scenario and
	// durability instead of a budget.
	Iterations   int
	Durabilities []inmem.Durability // default Strict and Buffered
	Shard        int                // this shard, 0-based
	Shards       int                // how many shards (default 1)
	// Dir is where scratch space goes: every scenario gets a directory of
	// its own inside, removed when it ends (default the system's temporary
	// directory).
	Dir string
	// Child and TargetChild start the workload children (see
	// crashtest.Session).
	Child, TargetChild crashtest.Child
	// Settings are scenarios' own settings, by scenario name; unset ones
	// take their defaults.
	Settings map[string]crashtest.Settings
	// Progress, if set, is told about every finished unit of work.
	Progress func(crashtest.Progress)
	// Plant is a test seam (see crashtest.Session.Plant).
	Plant func(*inmem.Options)
}

func (cfg *Config) defaults() {
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = Default()
	}
	if len(cfg.Durabilities) == 0 {
		cfg.Durabilities = []inmem.Durability{inmem.Strict, inmem.Buffered}
	}
	if cfg.Shards == 0 {
		cfg.Shards = 1
	}
	if cfg.Duration == 0 {
		cfg.Duration = time.Minute
	}
}

// plan is a checked campaign: each scenario with its resolved settings.
type plan struct {
	scenario crashtest.Scenario
	settings crashtest.Settings
}

// Check refuses a configuration a campaign cannot run with, before any
// work: every error matches crashtest.ErrBadSetting.
func Check(cfg Config) error {
	_, err := check(cfg)
	return err
}

func check(cfg Config) ([]plan, error) {
	cfg.defaults()
	bad := func(name, value, want string) error {
		return &crashtest.SettingError{Name: name, Value: value, Want: want}
	}
	switch {
	case cfg.Duration < 0:
		return nil, bad("duration", cfg.Duration.String(), "want a positive duration")
	case cfg.Iterations < 0:
		return nil, bad("iterations", fmt.Sprint(cfg.Iterations), "want a positive number (0: run on the time budget)")
	case cfg.Shards < 1 || cfg.Shard < 0 || cfg.Shard >= cfg.Shards:
		return nil, bad("shard", fmt.Sprintf("%d/%d", cfg.Shard, cfg.Shards), "want i/n with 0 <= i < n")
	}
	for _, d := range cfg.Durabilities {
		if d != inmem.Strict && d != inmem.Buffered {
			return nil, bad("durability", d.String(), "want strict or buffered")
		}
	}
	for name := range cfg.Settings {
		if !slices.Contains(cfg.Scenarios, name) {
			return nil, bad("scenario", name, "has settings but is not run")
		}
	}
	var plans []plan
	for _, name := range cfg.Scenarios {
		p, err := checkScenario(name, cfg.Settings[name])
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func checkScenario(name string, given crashtest.Settings) (plan, error) {
	sc, err := Lookup(name)
	if err != nil {
		return plan{}, err
	}
	set, err := crashtest.Resolve(sc.Params(), given)
	if err == nil {
		err = sc.Check(set)
	}
	return plan{sc, set}, err
}

// Run checks cfg, then runs every scenario under every durability mode and
// returns the report. Cancelling ctx stops the campaign after the units of
// work under way: the report then holds what was done and says it was
// interrupted, and the error is ctx's. Any other error is a failure of the
// campaign itself (broken promises are Report.Violations); the report
// returned with it holds what was done before.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	plans, err := check(cfg)
	if err != nil {
		return nil, err
	}
	cfg.defaults()
	start := time.Now()
	rep := newReport(cfg, start)
	budget := cfg.Duration / time.Duration(len(plans))
	for _, p := range plans {
		durabilities := cfg.Durabilities
		if df, ok := p.scenario.(crashtest.DurabilityFree); ok && df.IgnoresDurability(p.settings) {
			durabilities = durabilities[:1]
		}
		for _, d := range durabilities {
			if ctx.Err() != nil {
				break
			}
			deadline := time.Now().Add(budget / time.Duration(len(durabilities)))
			if err := runSession(ctx, cfg, p, d, deadline, rep); err != nil {
				err = fmt.Errorf("crashtest: %s (%s): %w", p.scenario.Name(), d, err)
				rep.finish(start, false, err)
				return rep, err
			}
		}
	}
	rep.finish(start, ctx.Err() != nil, nil)
	return rep, ctx.Err()
}

// runSession runs one scenario under one durability mode in scratch space
// of its own, and books its findings into the report.
func runSession(ctx context.Context, cfg Config, p plan, d inmem.Durability, deadline time.Time, rep *Report) (err error) {
	dir, err := os.MkdirTemp(cfg.Dir, "inmem-crash-"+p.scenario.Name()+"-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing scratch space: %w", rerr))
		}
	}()
	s := &crashtest.Session{Scenario: p.scenario.Name(), Seed: cfg.Seed, Shard: cfg.Shard, Shards: cfg.Shards, Durability: d,
		Iterations: cfg.Iterations, Deadline: deadline, Dir: dir, Child: cfg.Child, TargetChild: cfg.TargetChild,
		Settings: p.settings, OnProgress: cfg.Progress, Plant: cfg.Plant}
	start := time.Now()
	err = p.scenario.Run(ctx, s)
	rep.add(p.scenario, s, time.Since(start))
	return err
}

func machine() Machine {
	host, _ := os.Hostname()
	return Machine{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Host: host}
}
