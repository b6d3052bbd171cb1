package crashtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/in-mem/inmem"
)

// The kernel campaign scenarios: not in AllScenarios, because they need
// root, loop devices (and FUSE for barriers); `inmem crash kernel` and
// `inmem crash barriers` run them.
const (
	ScenarioKernel   = "kernel"
	ScenarioBarriers = "barriers"
)

// The matrix rows of the kernel scenarios: they crash at no named crash
// point.
const (
	kernelPoint  = "power cut, random moment"
	barrierPoint = "every flush barrier"
)

// TargetOptions choose what the kernel scenarios crash: in-mem's own
// workload (Name "" or "inmem" without Binary), or a Target served by a
// target child binary (crashtargets' cmd/crashtarget for bbolt and SQLite).
type TargetOptions struct {
	Name   string
	Binary string
	Args   []string // precede the target child's command
	Env    []string
	// SyncEvery makes the target child's writers sync every n puts.
	SyncEvery int
}

func (o TargetOptions) inmem() bool { return o.Binary == "" && (o.Name == "" || o.Name == "inmem") }

// workload returns the Target workload, nil for in-mem's own.
func (o TargetOptions) workload() *TargetWorkload {
	if o.inmem() {
		return nil
	}
	return &TargetWorkload{Name: o.Name, SyncEvery: o.SyncEvery}
}

// IgnoresDurability reports whether the scenario runs a Target, whose
// configuration, not the durability mode, says what is promised: it runs
// once, under the first durability.
func (cfg CampaignConfig) IgnoresDurability(scenario string) bool {
	switch scenario {
	case ScenarioKernel:
		return !cfg.Kernel.Target.inmem()
	case ScenarioBarriers:
		return !cfg.Barriers.Target.inmem()
	}
	return false
}

// KernelOptions tune the ext4 power-cut scenario.
type KernelOptions struct {
	// MountOptions: each is a column of its own (default data=ordered and
	// data=writeback).
	MountOptions           []string
	Target                 TargetOptions
	MinRuntime, MaxRuntime time.Duration // before the cut (default 50 ms to 400 ms)
	Writers                int
	ImageSize              int64
	// KillFirst: every power cut follows a process kill and the recovery
	// from it (see KernelConfig.KillFirst).
	KillFirst bool
	// Stop, if set, ends the scenario after the current power cut once
	// closed (everything mounted is cleaned up).
	Stop <-chan struct{}
}

// BarrierOptions tune the barrier-exploration scenario.
type BarrierOptions struct {
	MountOptions []string // default the defaults (data=ordered)
	Target       TargetOptions
	Writers      int
	RandomStates int
	MaxStates    int
	State        string // judge only this state (to reproduce it)
	KeepDir      string // receives the image of every violating state
	// Stop, if set, ends the scenario after the states being judged once
	// closed.
	Stop <-chan struct{}
}

// targetLabel is what reports show in the durability column.
func targetLabel(o TargetOptions, d inmem.Durability) string {
	if o.inmem() {
		return d.String()
	}
	return o.Name
}

// targetFlags is the reproduce command's part for a Target.
func targetFlags(o TargetOptions) string {
	if o.inmem() {
		return ""
	}
	s := " --target " + o.Name
	if o.Binary != "" {
		s += " --target-binary " + o.Binary
	}
	return s
}

func mountFlag(opts string) string {
	if opts == "" {
		return ""
	}
	return fmt.Sprintf(" --mount-opts %q", opts)
}

// childOf returns how to start the workload child: the campaign's in-mem
// child, a target binary, or the campaign's binary as a target child.
func childOf(cfg CampaignConfig, o TargetOptions) (string, []string, []string) {
	switch {
	case o.inmem():
		return cfg.Binary, cfg.Args, cfg.Env
	case o.Binary != "":
		return o.Binary, o.Args, o.Env
	}
	return cfg.Binary, o.Args, o.Env
}

func kernelExpectation(o TargetOptions, d inmem.Durability, safe bool) string {
	switch {
	case !o.inmem() && safe:
		return "every acknowledged put survives the power cut"
	case !o.inmem():
		return "nothing promised under a power cut (unsafe configuration): acknowledged puts lost are reported"
	case d == inmem.Buffered:
		return "a prefix holding every commit acknowledged before the last completed sync"
	}
	return "every acknowledged commit survives the power cut"
}

func runKernelScenario(cfg CampaignConfig, d inmem.Durability, deadline time.Time, rep *Report, sum *ScenarioSummary) error {
	ko := cfg.Kernel
	if len(ko.MountOptions) == 0 {
		ko.MountOptions = []string{"data=ordered", "data=writeback"}
	}
	sum.Unit, sum.Durability = "power cuts", targetLabel(ko.Target, d)
	binary, args, env := childOf(cfg, ko.Target)
	if binary == "" {
		return fmt.Errorf("the kernel scenario needs the workload child's binary")
	}
	for i, opts := range ko.MountOptions {
		if stopped(ko.Stop) {
			break
		}
		start := time.Now()
		mountDeadline := time.Now().Add(time.Until(deadline) / time.Duration(len(ko.MountOptions)-i))
		kind := KernelCrashKind(opts)
		pc := ProcessCrashConfig{
			MinRuntime: ko.MinRuntime, MaxRuntime: ko.MaxRuntime, Iterations: cfg.Iterations, Writers: ko.Writers,
			Seed: cfg.shardSeed() + uint64(i)*7919, Durability: d, Args: args, Env: env, Target: ko.Target.workload(), Stop: ko.Stop,
			Reproduce: fmt.Sprintf("%s crash kernel --seed %%d --iterations N --durability %s%s%s%s", cfg.Command, d, mountFlag(opts),
				targetFlags(ko.Target), map[bool]string{true: " --kill-first"}[ko.KillFirst]),
		}
		if cfg.Iterations <= 0 {
			pc.Iterations, pc.Deadline = 1<<30, mountDeadline
		}
		cell := MatrixCell{Point: kernelPoint, Kind: MatrixKind(kind), Durability: sum.Durability, Reproduce: strings.Replace(pc.Reproduce, "%d", fmt.Sprint(pc.Seed), 1)}
		done := 0
		pc.Progress = func(r KillIterationResult) {
			done++
			kernelIteration(cfg, sum, rep, &cell, kind, r)
			cfg.progress(Progress{Scenario: ScenarioKernel, Durability: sum.Durability, Done: done, Total: max(cfg.Iterations, 0),
				Violations: sum.Violations, Note: kind})
		}
		k := NewKernelCrashTester(binary, KernelConfig{ProcessCrashConfig: pc, MountOptions: opts, ImageSize: ko.ImageSize, Dir: cfg.Dir,
			KillFirst: ko.KillFirst && ko.Target.inmem()})
		res, err := k.Run()
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		safe := k.tester != nil && k.tester.kv != nil && k.tester.kv.w.PowerSafe
		cell.Expectation = kernelExpectation(ko.Target, d, safe)
		cell.Passed, cell.Duration = res.AllPassed(), time.Since(start)
		if n := res.UnpromisedLosses(); n > 0 {
			cell.Expectation += fmt.Sprintf(" (seen: %d acknowledged puts lost)", res.AckedLost)
		}
		rep.Matrix = append(rep.Matrix, cell)
	}
	return nil
}

// kernelIteration books one power cut into the summary, the matrix cell,
// the charts and the violations.
func kernelIteration(cfg CampaignConfig, sum *ScenarioSummary, rep *Report, cell *MatrixCell, kind string, r KillIterationResult) {
	sum.Runs++
	sum.AckedVerified += r.AckedKept
	sum.AckedLost += r.AckedLost
	cell.Runs++
	cell.Hits++
	cell.AckedVerified += r.AckedKept
	if !r.RecoverySucceeded {
		sum.Violations++
		cell.Failures = append(cell.Failures, fmt.Sprintf("iteration %d: %v, %d mismatches", r.Iteration, r.Err, len(r.Mismatches)))
		rep.Violations = append(rep.Violations, ViolationEntry{Scenario: ScenarioKernel, Durability: sum.Durability,
			Summary: fmt.Sprintf("%s, iteration %d: %s", kind, r.Iteration, r.Signal), Detail: r.String(), Reproduce: r.Reproduce})
	}
	rep.Iterations = append(rep.Iterations, IterationPoint{Scenario: ScenarioKernel, Durability: sum.Durability, Index: r.Iteration,
		RecoveryMs: float64(r.RecoveryTime.Microseconds()) / 1000, Acked: uint64(r.AckedUpTo), Recovered: uint64(r.Recovered),
		Passed: r.RecoverySucceeded})
}

func runBarrierScenario(cfg CampaignConfig, d inmem.Durability, deadline time.Time, rep *Report, sum *ScenarioSummary) error {
	bo := cfg.Barriers
	if len(bo.MountOptions) == 0 {
		bo.MountOptions = []string{"data=ordered"}
	}
	sum.Unit, sum.Durability = "crash states", targetLabel(bo.Target, d)
	binary, args, env := childOf(cfg, bo.Target)
	if binary == "" {
		return fmt.Errorf("the barriers scenario needs the workload child's binary")
	}
	for i, opts := range bo.MountOptions {
		kind := "barriers"
		if mountName(opts) != "ordered" {
			kind += "-" + mountName(opts)
		}
		cell := MatrixCell{Point: barrierPoint, Kind: MatrixKind(kind), Durability: sum.Durability, Passed: true}
		start, unpromised, stateTime := time.Now(), 0, time.Duration(0)
		mountDeadline := time.Now().Add(time.Until(deadline) / time.Duration(len(bo.MountOptions)-i))
		for k, done := cfg.Shard, 0; cfg.more(done, mountDeadline) && !stopped(bo.Stop); k, done = k+cfg.Shards, done+1 {
			bc := BarrierConfig{Binary: binary, Args: args, Env: env, Target: bo.Target.workload(), Seed: cfg.Seed + uint64(k),
				Durability: d, Ops: cfg.Ops, Writers: bo.Writers, MountOptions: opts, RandomStates: bo.RandomStates,
				MaxStates: bo.MaxStates, Only: bo.State, Dir: cfg.Dir, Stop: bo.Stop, KeepDir: bo.KeepDir,
				Reproduce: fmt.Sprintf("%s crash barriers --seed %%d --iterations 1 --ops %d --writers %d --durability %s%s%s --state %%s",
					cfg.Command, cfg.Ops, max(bo.Writers, 1), d, mountFlag(opts), targetFlags(bo.Target)),
			}
			bc.Progress = func(n, total int) {
				cfg.progress(Progress{Scenario: ScenarioBarriers, Durability: sum.Durability, Done: n, Total: total,
					Violations: sum.Violations, Note: fmt.Sprintf("seed %d, %s", bc.Seed, kind)})
			}
			res, err := ExploreBarriers(bc)
			if err != nil {
				return fmt.Errorf("%s, seed %d: %w", kind, bc.Seed, err)
			}
			unpromised += barrierWorkload(sum, rep, &cell, res, done)
			stateTime += res.StateTime
			cell.Reproduce = strings.NewReplacer("%d", fmt.Sprint(bc.Seed), "%s", "STATE").Replace(bc.Reproduce)
		}
		cell.Duration = time.Since(start)
		cell.Expectation = "every crash state recovers to a prefix holding what was promised by its last barrier"
		if cell.Runs > 0 {
			cell.Expectation += fmt.Sprintf("; %d states, %.1f ms per state", cell.Runs, float64(stateTime.Microseconds())/1000/float64(cell.Runs))
		}
		if unpromised > 0 {
			cell.Expectation += fmt.Sprintf(" (unsafe configuration: %d states lost acknowledged puts, reported)", unpromised)
		}
		rep.Matrix = append(rep.Matrix, cell)
	}
	return nil
}

// barrierWorkload books one exploration into the summary, the matrix cell,
// the charts and the violations, and returns its states with unpromised
// losses.
func barrierWorkload(sum *ScenarioSummary, rep *Report, cell *MatrixCell, res *BarrierResult, index int) int {
	sum.Runs += res.States
	sum.AckedVerified += res.AckedChecked
	cell.Runs += res.States
	cell.Hits += res.States
	cell.AckedVerified += res.AckedChecked
	for _, v := range res.Violations {
		sum.Violations++
		cell.Passed = false
		cell.Failures = append(cell.Failures, fmt.Sprintf("seed %d, state %s", v.Seed, v.State))
		rep.Violations = append(rep.Violations, ViolationEntry{Scenario: ScenarioBarriers, Durability: sum.Durability,
			Summary: fmt.Sprintf("seed %d: crash state %s", v.Seed, v.State), Detail: v.String(), Reproduce: v.Reproduce})
	}
	rep.Iterations = append(rep.Iterations, IterationPoint{Scenario: ScenarioBarriers, Durability: sum.Durability, Index: index,
		RecoveryMs: float64(res.MeanStateTime().Microseconds()) / 1000, Acked: uint64(res.AckedOps),
		Recovered: uint64(res.AckedChecked / max(res.States, 1)), Passed: len(res.Violations) == 0})
	return res.Unpromised
}
