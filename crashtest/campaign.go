package crashtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// Campaign scenarios, as `inmem crash` names them.
const (
	ScenarioMatrix    = "matrix"
	ScenarioKill      = "kill"
	ScenarioPowerLoss = "powerloss"
	ScenarioIOErrors  = "ioerrors"
	ScenarioCorrupt   = "corrupt"
)

// AllScenarios returns every campaign scenario, in the order `all` runs them.
func AllScenarios() []string {
	return []string{ScenarioMatrix, ScenarioKill, ScenarioPowerLoss, ScenarioIOErrors, ScenarioCorrupt}
}

// CampaignConfig configures RunCampaign.
type CampaignConfig struct {
	Scenarios    []string
	Seed         uint64
	Duration     time.Duration // the whole campaign's time budget (shared by scenarios)
	Iterations   int           // if positive, a fixed amount of work per scenario instead of a budget
	Durabilities []inmem.Durability
	Shard        int // this shard, 0-based
	Shards       int // how many shards the campaign is split into (default 1)
	Dir          string
	// Ops is the workload size of powerloss and ioerrors runs.
	Ops int
	// Binary, Args and Env start the workload child (see ProcessCrashConfig).
	Binary string
	Args   []string
	Env    []string
	// Progress, if set, is told about every finished unit of work.
	Progress func(Progress)
	// Command is how reproduce lines start (default "go run ./cmd/inmem").
	Command string

	Matrix    MatrixOptions
	Kill      KillOptions
	PowerLoss PowerLossOptions
	IOErrors  IOErrorOptions
	Kernel    KernelOptions  // ScenarioKernel (kernel_campaign.go)
	Barriers  BarrierOptions // ScenarioBarriers
}

// MatrixOptions narrow the matrix scenario.
type MatrixOptions struct {
	Points []CrashPoint
	Kinds  []MatrixKind
	Runs   int // per cell, default 2
}

// KillOptions tune the kill scenario.
type KillOptions struct {
	Signals                []syscall.Signal // default a mix of SIGKILL, SIGABRT, SIGSEGV
	CrashPoints            []CrashPoint     // whitebox points (default all)
	WhiteboxRatio          float64          // share of whitebox iterations (default 0.3; -1 for none)
	MinRuntime, MaxRuntime time.Duration    // default 50 ms to 200 ms
	Writers                int
	Dir                    string // the database directory (default a temporary one)
}

// PowerLossOptions tune the power-loss exploration.
type PowerLossOptions struct {
	Policies       []vfs.CrashMode
	RandomStates   int
	EveryOperation bool
	At             *int             // explore only the crash after this many filesystem operations
	Policy         *vfs.CrashPolicy // with At: only this policy
}

// IOErrorOptions tune the I/O error sweep.
type IOErrorOptions struct {
	At     *int
	Errors []string
}

// Progress is one finished unit of work of a campaign.
type Progress struct {
	Scenario   string
	Durability string
	Done       int
	Total      int // 0 when the scenario runs on a time budget
	Violations int
	Note       string
}

// RunCampaign runs the configured scenarios and returns the report. The
// error is for failures of the campaign itself, not for broken promises
// (those are Report.Violations).
func RunCampaign(cfg CampaignConfig) (*Report, error) {
	cfg.defaults()
	start := time.Now()
	rep := newReport(cfg, start)
	budget := cfg.Duration / time.Duration(max(1, len(cfg.Scenarios)))
	for _, sc := range cfg.Scenarios {
		durabilities := cfg.Durabilities
		if cfg.IgnoresDurability(sc) {
			durabilities = durabilities[:1]
		}
		for _, d := range durabilities {
			deadline := time.Now().Add(budget / time.Duration(len(durabilities)))
			scStart := time.Now()
			sum := ScenarioSummary{Scenario: sc, Durability: d.String()}
			var err error
			switch sc {
			case ScenarioMatrix:
				err = runMatrixScenario(cfg, d, rep, &sum)
			case ScenarioKill:
				err = runKillScenario(cfg, d, deadline, rep, &sum)
			case ScenarioPowerLoss:
				err = runPowerLossScenario(cfg, d, deadline, rep, &sum)
			case ScenarioIOErrors:
				err = runIOErrorScenario(cfg, d, deadline, rep, &sum)
			case ScenarioCorrupt:
				err = runCorruptScenario(cfg, d, deadline, rep, &sum)
			case ScenarioKernel:
				err = runKernelScenario(cfg, d, deadline, rep, &sum)
			case ScenarioBarriers:
				err = runBarrierScenario(cfg, d, deadline, rep, &sum)
			default:
				return rep, fmt.Errorf("crashtest: unknown scenario %q (known: %s, %s, %s)", sc, strings.Join(AllScenarios(), ", "), ScenarioKernel, ScenarioBarriers)
			}
			sum.Seconds = time.Since(scStart).Seconds()
			rep.Summary = append(rep.Summary, sum)
			if err != nil {
				return rep, fmt.Errorf("crashtest: %s (%s): %w", sc, sum.Durability, err)
			}
		}
	}
	rep.finish(start)
	return rep, nil
}

func (cfg *CampaignConfig) defaults() {
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = AllScenarios()
	}
	if len(cfg.Durabilities) == 0 {
		cfg.Durabilities = []inmem.Durability{inmem.Strict, inmem.Buffered}
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	if cfg.Ops <= 0 {
		cfg.Ops = 200
	}
	if cfg.Command == "" {
		cfg.Command = "go run ./cmd/inmem"
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
}

// mine reports whether unit i belongs to this shard.
func (cfg CampaignConfig) mine(i int) bool { return i%cfg.Shards == cfg.Shard }

// shardSeed gives each shard of a scenario that cannot be split by units
// (the kill campaign, whose iterations share a directory) its own seed.
func (cfg CampaignConfig) shardSeed() uint64 { return cfg.Seed + uint64(cfg.Shard)*1_000_003 }

func (cfg CampaignConfig) progress(p Progress) {
	if cfg.Progress != nil {
		cfg.Progress(p)
	}
}

// more reports whether another unit should run: a fixed count, or the
// budget (at least one unit always runs).
func (cfg CampaignConfig) more(done int, deadline time.Time) bool {
	if cfg.Iterations > 0 {
		return done < cfg.Iterations
	}
	return done == 0 || time.Now().Before(deadline)
}

func runMatrixScenario(cfg CampaignConfig, d inmem.Durability, rep *Report, sum *ScenarioSummary) error {
	dir, err := os.MkdirTemp(cfg.Dir, "matrix-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	done := 0
	points, kinds := cfg.Matrix.Points, cfg.Matrix.Kinds
	if len(points) == 0 {
		points = AllCrashPoints()
	}
	if len(kinds) == 0 {
		kinds = MatrixKinds()
	}
	total := len(points) * len(kinds)
	cells, err := RunMatrix(MatrixConfig{
		Seed: cfg.Seed, Durabilities: []inmem.Durability{d}, Points: points, Kinds: kinds, Runs: max(cfg.Matrix.Runs, 2), Dir: dir,
		Binary: cfg.Binary, Args: cfg.Args, Env: cfg.Env, Select: cfg.mine,
		Reproduce: cfg.Command + " crash matrix --seed %d --point %p --type %t --durability %u",
		Progress: func(c MatrixCell) {
			done++
			cfg.progress(Progress{Scenario: ScenarioMatrix, Durability: d.String(), Done: done, Total: (total + cfg.Shards - 1) / cfg.Shards,
				Violations: sum.Violations, Note: fmt.Sprintf("%s × %s", c.Point, c.Kind)})
		},
	})
	for _, c := range cells {
		rep.Matrix = append(rep.Matrix, c)
		sum.Runs += c.Runs
		sum.AckedVerified += c.AckedVerified
		if !c.Passed {
			sum.Violations++
			rep.violation(ScenarioMatrix, d, fmt.Sprintf("%s × %s: expected %s", c.Point, c.Kind, c.Expectation),
				strings.Join(c.Failures, "\n"), c.Reproduce)
		}
	}
	sum.Unit = "crashes"
	return err
}

func runKillScenario(cfg CampaignConfig, d inmem.Durability, deadline time.Time, rep *Report, sum *ScenarioSummary) error {
	dir := cfg.Kill.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp(cfg.Dir, "kill-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if len(cfg.Durabilities) > 1 {
		dir = filepath.Join(dir, d.String())
	}
	iterations := cfg.Iterations
	if iterations <= 0 {
		iterations = 1 << 30 // until the deadline
	}
	seed := cfg.shardSeed()
	ko := cfg.Kill
	if len(ko.Signals) == 0 {
		ko.Signals = []syscall.Signal{syscall.SIGKILL, syscall.SIGKILL, syscall.SIGABRT, syscall.SIGSEGV}
	}
	if len(ko.CrashPoints) == 0 {
		ko.CrashPoints = AllCrashPoints()
	}
	switch {
	case ko.WhiteboxRatio == 0:
		ko.WhiteboxRatio = 0.3
	case ko.WhiteboxRatio < 0:
		ko.CrashPoints = nil
	}
	if ko.MaxRuntime <= 0 {
		ko.MinRuntime, ko.MaxRuntime = 50*time.Millisecond, 200*time.Millisecond
	}
	pc := ProcessCrashConfig{
		MinRuntime: ko.MinRuntime, MaxRuntime: ko.MaxRuntime, Iterations: iterations,
		Signals: ko.Signals, CrashPoints: ko.CrashPoints, WhiteboxRatio: ko.WhiteboxRatio, MaxHit: 5,
		Writers: ko.Writers, Seed: seed, Durability: d, Args: cfg.Args, Env: cfg.Env,
		Reproduce: fmt.Sprintf("%s crash kill --seed %%d --iterations N --durability %s", cfg.Command, d),
	}
	if cfg.Iterations <= 0 {
		pc.Deadline = deadline
	}
	pc.Progress = func(r KillIterationResult) {
		if !r.RecoverySucceeded {
			sum.Violations++
			rep.violation(ScenarioKill, d, fmt.Sprintf("iteration %d: %s", r.Iteration, r.Signal), r.String(), r.Reproduce)
		}
		rep.Iterations = append(rep.Iterations, IterationPoint{Scenario: ScenarioKill, Durability: d.String(), Index: r.Iteration,
			RecoveryMs: float64(r.RecoveryTime.Microseconds()) / 1000, Acked: uint64(r.AckedUpTo), Recovered: uint64(r.Recovered),
			Passed: r.RecoverySucceeded})
		total := 0
		if cfg.Iterations > 0 {
			total = cfg.Iterations
		}
		cfg.progress(Progress{Scenario: ScenarioKill, Durability: d.String(), Done: r.Iteration + 1, Total: total, Violations: sum.Violations,
			Note: r.Signal})
	}
	if cfg.Binary == "" {
		return fmt.Errorf("the kill scenario needs the workload child's binary")
	}
	res, err := NewProcessCrashTester(cfg.Binary, dir, pc).Run()
	if res != nil {
		sum.Runs, sum.AckedVerified, sum.AckedLost = res.Iterations, res.AckedVerified, res.AckedLost
	}
	sum.Unit = "kills"
	return err
}

func runPowerLossScenario(cfg CampaignConfig, d inmem.Durability, deadline time.Time, rep *Report, sum *ScenarioSummary) error {
	sum.Unit = "crash states"
	for k, done := cfg.Shard, 0; cfg.more(done, deadline); k, done = k+cfg.Shards, done+1 {
		seed := cfg.Seed + uint64(k)
		po := cfg.PowerLoss
		res, err := Explore(ExploreConfig{
			Workload: WorkloadConfig{Seed: seed, Ops: cfg.Ops}, Durability: d,
			Policies: po.Policies, RandomStates: po.RandomStates, EveryOperation: po.EveryOperation,
			Only: po.At, OnlyPolicy: po.Policy,
			Options:   inmem.Options{SegmentSize: 16 << 10},
			Reproduce: fmt.Sprintf("%s crash powerloss --seed %%d --iterations 1 --ops %d --durability %s --at %%o --policy %%p", cfg.Command, cfg.Ops, d),
		})
		if err != nil {
			return err
		}
		sum.Runs += res.States
		sum.AckedVerified += res.AckedChecked
		for _, v := range res.Violations {
			sum.Violations++
			rep.violation(ScenarioPowerLoss, d, fmt.Sprintf("seed %d: crash after filesystem operation %d, policy %s", v.Seed, v.OpIndex, v.Policy),
				v.String(), v.Reproduce)
		}
		rep.Iterations = append(rep.Iterations, IterationPoint{Scenario: ScenarioPowerLoss, Durability: d.String(), Index: done,
			RecoveryMs: float64(res.RecoveryTime.Microseconds()) / 1000 / float64(max(res.States, 1)),
			Acked:      uint64(res.AckedOps), Recovered: uint64(res.AckedChecked / max(res.States, 1)), Passed: len(res.Violations) == 0})
		cfg.progress(Progress{Scenario: ScenarioPowerLoss, Durability: d.String(), Done: done + 1, Total: cfg.Iterations,
			Violations: sum.Violations, Note: fmt.Sprintf("seed %d: %d states", seed, res.States)})
	}
	return nil
}

func runIOErrorScenario(cfg CampaignConfig, d inmem.Durability, deadline time.Time, rep *Report, sum *ScenarioSummary) error {
	sum.Unit = "failed operations"
	for k, done := cfg.Shard, 0; cfg.more(done, deadline); k, done = k+cfg.Shards, done+1 {
		seed := cfg.Seed + uint64(k)
		res, err := ErrorSweep(SweepConfig{
			Workload: WorkloadConfig{Seed: seed, Ops: min(cfg.Ops, 70)}, Durability: d,
			Options: inmem.Options{SegmentSize: 4096}, Only: cfg.IOErrors.At, Errors: cfg.IOErrors.Errors,
		})
		if err != nil {
			return err
		}
		sum.Runs += res.Runs
		sum.AckedVerified += res.AckedKept
		for _, v := range res.Violations {
			sum.Violations++
			v.Reproduce = strings.Replace(v.Reproduce, "go run ./cmd/inmem", cfg.Command, 1)
			rep.violation(ScenarioIOErrors, d, fmt.Sprintf("seed %d: %s at operation %d", seed, v.Injected, v.OpIndex), v.String(), v.Reproduce)
		}
		cfg.progress(Progress{Scenario: ScenarioIOErrors, Durability: d.String(), Done: done + 1, Total: cfg.Iterations,
			Violations: sum.Violations, Note: fmt.Sprintf("seed %d: %d runs", seed, res.Runs)})
	}
	return nil
}

func runCorruptScenario(cfg CampaignConfig, d inmem.Durability, deadline time.Time, rep *Report, sum *ScenarioSummary) error {
	dir, err := os.MkdirTemp(cfg.Dir, "corrupt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sum.Unit = "damaged databases"
	for k, done := cfg.Shard, 0; cfg.more(done, deadline); k, done = k+cfg.Shards, done+1 {
		seed := cfg.Seed + uint64(k)
		c := RunCorruptionCase(filepath.Join(dir, fmt.Sprint(seed)), seed, d)
		os.RemoveAll(filepath.Join(dir, fmt.Sprint(seed)))
		sum.Runs++
		sum.AckedVerified += c.AckedKept
		if !c.Passed {
			sum.Violations++
			rep.violation(ScenarioCorrupt, d, fmt.Sprintf("seed %d: %s", seed, c.Damage), "expected "+c.Expect+": "+c.Detail,
				strings.Replace(c.Reproduce, "go run ./cmd/inmem", cfg.Command, 1))
		}
		cfg.progress(Progress{Scenario: ScenarioCorrupt, Durability: d.String(), Done: done + 1, Total: cfg.Iterations,
			Violations: sum.Violations, Note: c.Damage})
	}
	return nil
}

func machine() Machine {
	host, _ := os.Hostname()
	return Machine{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Host: host}
}
