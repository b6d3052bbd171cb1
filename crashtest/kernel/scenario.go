package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// The kernel scenarios' crash-matrix rows: they crash at no named crash
// point.
const (
	kernelPoint  = "power cut, random moment"
	barrierPoint = "every flush barrier"
)

// kernelReopenDefault and barrierReopens are the scenarios' lifecycle
// defaults: a power cut's workload reopens its store every 100 operations;
// a recorded workload reopens twice (after each third of it).
const (
	kernelReopenDefault = 100
	barrierReopens      = 2
)

// KernelScenario is the ext4 power cut as a campaign scenario.
var KernelScenario crashtest.Scenario = kernelScenario{}

type kernelScenario struct{}

func (kernelScenario) Name() string { return "kernel" }

func (kernelScenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Cut the power under a workload child through the real kernel: ext4 on a loop device, EXT4_IOC_SHUTDOWN (needs root)",
		Long: `kernel puts the database on a small ext4 on a loop device and runs the
workload child on it. At a random moment it freezes the child, cuts the power
the way xfstests does (EXT4_IOC_SHUTDOWN with NOLOGFLUSH: whatever has not
reached the device is lost), SIGKILLs it, unmounts, detaches, attaches again
and mounts (the journal replays), recovers and judges: strict keeps every
acknowledged commit; buffered a prefix holding every commit acknowledged
before the last completed sync. The child closes the database cleanly and
opens it again every reopen-every operations (100 by default; -1: never).
Each mount-opts value is a column of its own.
With kill-first every power cut comes right after a child recovered from a
SIGKILL: what that recovery served must survive, buffered or not.

target crashes another engine through the same harness, over the target
protocol (docs/target-protocol.md), judged by a key/value model: every
acknowledged write of a power-safe configuration must survive; an unsafe
one's losses are reported, not violations. bbolt, SQLite, goleveldb, Pebble
and Badger live in the crashtargets module; build its executable first:

  go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget

Every target workload runs a lifecycle: creation, writes, a clean close and
reopen every reopen-every operations, and with kill-first a SIGKILL before
every power cut, so that the cut falls on a store recovering from a crash.
Findings are counted by class; a store that does not open after a cut
during its first creation, with nothing acknowledged, is a finding of its
own (creation), not a violation.

It needs root, loop devices and mkfs.ext4, and says which is missing.`,
		Unit: "power cuts", Budget: 30 * time.Second,
	}
}

func (kernelScenario) Params() []crashtest.Param {
	return append([]crashtest.Param{
		{Name: "mount-opts", Kind: crashtest.KindList, Default: "data=ordered\ndata=writeback", Usage: "ext4 mount options, one column each (repeat the setting)"},
		crashtest.DurationParam("min-runtime", 50*time.Millisecond, time.Millisecond, time.Hour, "shortest run of a child before the power cut"),
		crashtest.DurationParam("max-runtime", 400*time.Millisecond, time.Millisecond, time.Hour, "longest run of a child before the power cut"),
		crashtest.IntParam("writers", 4, 1, 64, "concurrent writers in the child"),
		{Name: "kill-first", Kind: crashtest.KindBool, Default: "false", Usage: "SIGKILL a first child, then cut the power under the child that recovered from it"},
		crashtest.IntParam("image-mib", 64, 16, 1<<16, "size of the ext4 image, in MiB"),
	}, proc.TargetParams()...)
}

func (kernelScenario) Check(s crashtest.Settings) error {
	if s.Duration("max-runtime") < s.Duration("min-runtime") {
		return &crashtest.SettingError{Name: "max-runtime", Value: s.String("max-runtime"), Want: "want at least min-runtime (" + s.String("min-runtime") + ")"}
	}
	return proc.CheckTarget(s)
}

func (kernelScenario) IgnoresDurability(s crashtest.Settings) bool { return !proc.InmemOwn(s) }

func (kernelScenario) Run(ctx context.Context, s *crashtest.Session) error {
	if err := Available(); err != nil {
		return err
	}
	s.Found.Label = proc.TargetLabel(s)
	opts := s.Settings.List("mount-opts")
	for i, o := range opts {
		if ctx.Err() != nil {
			break
		}
		deadline := time.Now().Add(time.Until(s.Deadline) / time.Duration(len(opts)-i))
		if err := kernelColumn(ctx, s, strings.TrimSpace(o), s.ShardSeed()+uint64(i)*7919, deadline); err != nil {
			return fmt.Errorf("%s: %w", CrashKind(o), err)
		}
	}
	return nil
}

// kernelColumn runs the power cuts of one mount option.
func kernelColumn(ctx context.Context, s *crashtest.Session, opts string, seed uint64, deadline time.Time) error {
	set, params := s.Settings, KernelScenario.Params()
	bin, target := proc.TargetChild(s, kernelReopenDefault)
	if bin.Binary == "" {
		return errors.New("crashtest: the kernel scenario needs the workload child's binary (Session.Child)")
	}
	kind := CrashKind(opts)
	pc := proc.ProcessCrashConfig{
		MinRuntime: proc.DepthDuration(set, params, "min-runtime", 200*time.Millisecond), MaxRuntime: proc.DepthDuration(set, params, "max-runtime", 2*time.Second),
		Iterations: s.Iterations, Writers: set.Int("writers"), Seed: seed, Durability: s.Durability, Args: bin.Args, Env: bin.Env,
		Target: target, Stop: ctx.Done(),
	}
	if target == nil {
		pc.ReopenEvery = proc.ReopenEvery(set, kernelReopenDefault)
	}
	if set.Bool("kill-first") {
		pc.KillFirst = 200 * time.Millisecond
		if target != nil {
			target.Lifecycle.KillFirst = true
		}
	}
	if s.Iterations <= 0 {
		pc.Iterations, pc.Deadline = 1<<30, deadline
	}
	cell := crashtest.Cell{Point: kernelPoint, Kind: kind, Durability: proc.TargetLabel(s), Reproduction: kernelRepro(s, opts, seed, 1)}
	start := time.Now()
	pc.Progress = func(r proc.KillIterationResult) {
		kernelIteration(s, &cell, opts, r)
		s.Progress(r.Iteration+1, max(s.Iterations, 0), kind)
	}
	size := int64(proc.DepthInt(set, params, "image-mib", 256)) << 20
	k := NewTester(bin.Binary, Config{ProcessCrashConfig: pc, MountOptions: opts, ImageSize: size, Dir: s.Dir})
	res, err := k.Run()
	if err != nil {
		return err
	}
	cell.Expectation = kernelExpectation(target != nil, s.Durability, k.tester != nil && k.tester.PowerSafe())
	cell.Passed, cell.Duration = res.AllPassed(), time.Since(start)
	if n := res.UnpromisedLosses(); n > 0 {
		cell.Expectation += fmt.Sprintf(" (seen: %d acknowledged writes lost)", s.Found.PermittedLoss)
	}
	s.Found.Cells = append(s.Found.Cells, cell)
	return nil
}

func kernelRepro(s *crashtest.Session, opts string, seed uint64, iterations int) crashtest.Reproduction {
	r := s.Reproduction(seed, crashtest.Setting{Name: "mount-opts", Value: opts})
	r.Iterations = iterations
	for _, name := range []string{"min-runtime", "max-runtime", "writers", "kill-first", "image-mib"} {
		r.Params = append(r.Params, crashtest.Setting{Name: name, Value: s.Settings.String(name)})
	}
	r.Params = append(r.Params, proc.TargetSettings(s.Settings)...)
	return r
}

func kernelExpectation(target bool, d inmem.Durability, safe bool) string {
	switch {
	case target && safe:
		return "every acknowledged put survives the power cut"
	case target:
		return "nothing promised under a power cut (unsafe configuration): acknowledged puts lost are reported"
	case d == inmem.Buffered:
		return "a prefix holding every commit acknowledged before the last completed sync"
	}
	return "every acknowledged commit survives the power cut"
}

// kernelIteration books one power cut into the session and the cell.
func kernelIteration(s *crashtest.Session, cell *crashtest.Cell, opts string, r proc.KillIterationResult) {
	summary := fmt.Sprintf("%s, iteration %d: %s", CrashKind(opts), r.Iteration, r.Signal)
	if proc.BookIteration(s, r, summary, kernelRepro(s, opts, r.Seed, r.Iteration+1)) {
		cell.Failures = append(cell.Failures, fmt.Sprintf("iteration %d: %v, %d mismatches", r.Iteration, r.Err, len(r.Mismatches)))
	}
	if r.Interrupted {
		return
	}
	cell.Runs++
	cell.Hits++
	cell.AckedVerified += r.AckedKept
	s.Found.Samples = append(s.Found.Samples, crashtest.Sample{Index: r.Iteration, RecoveryMs: float64(r.RecoveryTime.Microseconds()) / 1000,
		Acked: uint64(r.AckedUpTo), Promised: uint64(r.Promised), Recovered: uint64(r.Recovered), Passed: r.RecoverySucceeded})
}

// BarriersScenario is the barrier exploration as a campaign scenario.
var BarriersScenario crashtest.Scenario = barriersScenario{}

type barriersScenario struct{}

func (barriersScenario) Name() string { return "barriers" }

func (barriersScenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Record every write and flush ext4 sends to the device, then judge every crash state a disk can be left in (needs root and FUSE)",
		Long: `barriers runs a seeded workload (ops per writer) on ext4 over a loop device
whose image our own FUSE filesystem serves, logging every write and every
flush barrier the kernel sends down (as dm-log-writes does). It then builds
the crash states a real disk can be left in (as CrashMonkey does): the
writes up to each barrier, and seeded subsets of the 4 KiB blocks written
between two barriers. Each is mounted on a fresh loop device over a copy of
the image (the journal replays), recovered and judged against everything
acknowledged before its last barrier. The workload closes the database
cleanly and opens it again twice (after each third of it; reopen-every
changes that), so states fall after a Close and a reopen. state reruns one.

target crashes another engine, as with kernel: its recorded workload is
created, written, closed and reopened twice (reopen-every), with
kill-first killed once and recovered by a new process, so that crash
states fall in every phase of its life. The summary counts the states by
class and shows their coverage: lifecycle phases, barriers, and each file
of the store with the states that interrupted writes to it. It needs root,
loop devices, FUSE and mkfs.ext4.`,
		Unit: "crash states", Budget: 30 * time.Second,
	}
}

func (barriersScenario) Params() []crashtest.Param {
	return append([]crashtest.Param{
		crashtest.IntParam("ops", 64, 1, 100_000, "operations per writer"),
		{Name: "mount-opts", Kind: crashtest.KindList, Default: "data=ordered", Usage: "ext4 mount options, one column each (repeat the setting)"},
		crashtest.IntParam("writers", 1, 1, 64, "concurrent writers in the child (1: the seed fixes the operations)"),
		crashtest.IntParam("states", 2, -1, 1000, "seeded subsets of the blocks between two barriers, per barrier (-1: none)"),
		crashtest.IntParam("max-states", 0, 0, 1<<30, "judge a seeded sample of at most this many states per workload (0: all)"),
		{Name: "state", Usage: "judge only this crash state (b12, b12+r1, end) to rerun it"},
		{Name: "keep", Usage: "save the image of every crash state that breaks a promise in this directory, to mount and inspect"},
		crashtest.IntParam("image-mib", 32, 16, 1<<16, "size of the ext4 image, in MiB (engines that preallocate large files need more)"),
		{Name: "kill-first", Kind: crashtest.KindBool, Default: "false", Usage: "with a key/value target: SIGKILL the recorded workload once in the middle and let a new process recover and finish it"},
	}, proc.TargetParams()...)
}

func (barriersScenario) Check(s crashtest.Settings) error {
	if k := s.String("keep"); k != "" {
		if info, err := os.Stat(k); err != nil || !info.IsDir() {
			return &crashtest.SettingError{Name: "keep", Value: k, Want: "want an existing directory"}
		}
	}
	if s.Bool("kill-first") && proc.InmemOwn(s) {
		return &crashtest.SettingError{Name: "kill-first", Value: "true", Want: "works with a key/value target (target)"}
	}
	return proc.CheckTarget(s)
}

func (barriersScenario) IgnoresDurability(s crashtest.Settings) bool { return !proc.InmemOwn(s) }

func (barriersScenario) Run(ctx context.Context, s *crashtest.Session) error {
	if err := BarriersAvailable(); err != nil {
		return err
	}
	s.Found.Label = proc.TargetLabel(s)
	opts := s.Settings.List("mount-opts")
	for i, o := range opts {
		deadline := time.Now().Add(time.Until(s.Deadline) / time.Duration(len(opts)-i))
		if err := barrierColumn(ctx, s, strings.TrimSpace(o), deadline); err != nil {
			return err
		}
	}
	return nil
}

func barrierColumn(ctx context.Context, s *crashtest.Session, opts string, deadline time.Time) error {
	kind := "barriers"
	if mountName(opts) != "ordered" {
		kind += "-" + mountName(opts)
	}
	cell := crashtest.Cell{Point: barrierPoint, Kind: kind, Durability: proc.TargetLabel(s), Passed: true}
	start, unpromised, stateTime := time.Now(), 0, time.Duration(0)
	col := *s
	col.Deadline = deadline
	for done := 0; col.More(ctx, done); done++ {
		seed := s.Seed + uint64(s.Unit(done))
		bc := barrierConfig(ctx, s, opts, seed)
		bc.Progress = func(n, total int) { s.Progress(n, total, fmt.Sprintf("seed %d, %s", seed, kind)) }
		res, err := ExploreBarriers(bc)
		if err != nil {
			return fmt.Errorf("%s, seed %d: %w", kind, seed, err)
		}
		unpromised += barrierWorkload(s, &cell, res, done, opts)
		stateTime += res.StateTime
		cell.Reproduction = barrierRepro(s, opts, seed, "")
	}
	cell.Duration = time.Since(start)
	cell.Expectation = crashtest.StatesExpectation("its last barrier", cell.Runs, stateTime, unpromised)
	s.Found.Cells = append(s.Found.Cells, cell)
	return nil
}

// barrierConfig is the exploration of one workload under the settings,
// the deep preset applied.
func barrierConfig(ctx context.Context, s *crashtest.Session, opts string, seed uint64) BarrierConfig {
	set, params := s.Settings, BarriersScenario.Params()
	ops, writers := proc.DepthInt(set, params, "ops", 300), set.Int("writers")
	reopen := max(ops*writers/(barrierReopens+1), 1)
	bin, target := proc.TargetChild(s, reopen)
	bc := BarrierConfig{Child: bin, Target: target, Seed: seed, Durability: s.Durability, Ops: ops,
		Writers: writers, MountOptions: opts, RandomStates: proc.DepthInt(set, params, "states", 4), MaxStates: set.Int("max-states"),
		Only: set.String("state"), Dir: s.Dir, Stop: ctx.Done(), KeepDir: set.String("keep"),
		ImageSize: int64(proc.DepthInt(set, params, "image-mib", 128)) << 20}
	if target == nil {
		bc.ReopenEvery = proc.ReopenEvery(set, reopen)
		if proc.Deep(set) {
			bc.SegmentSize = 4 << 10
		}
	} else {
		target.Lifecycle.KillFirst = set.Bool("kill-first")
	}
	return bc
}

func barrierRepro(s *crashtest.Session, opts string, seed uint64, state string) crashtest.Reproduction {
	r := s.Reproduction(seed, crashtest.Setting{Name: "mount-opts", Value: opts})
	for _, name := range []string{"ops", "writers", "states", "image-mib", "kill-first"} {
		r.Params = append(r.Params, crashtest.Setting{Name: name, Value: s.Settings.String(name)})
	}
	if state != "" {
		r.Params = append(r.Params, crashtest.Setting{Name: "state", Value: state})
	}
	return crashtest.Reproduction{Scenario: r.Scenario, Seed: r.Seed, Durability: r.Durability, Iterations: 1,
		Params: append(r.Params, proc.TargetSettings(s.Settings)...)}
}

// barrierWorkload books one exploration into the session and the cell,
// and returns its states with unpromised losses.
func barrierWorkload(s *crashtest.Session, cell *crashtest.Cell, res *BarrierResult, index int, opts string) int {
	f := &s.Found
	f.AddStates(res.StateTally)
	cell.AddStates(res.StateTally)
	for _, v := range res.Violations {
		cell.Passed = false
		cell.Failures = append(cell.Failures, fmt.Sprintf("seed %d, state %s", v.Seed, v.State))
		s.Violation(barrierEntry(s, v, opts))
	}
	for _, v := range res.Notices {
		s.Notice(barrierEntry(s, v, opts))
	}
	n := max(res.States, 1)
	f.Samples = append(f.Samples, crashtest.Sample{Index: index, RecoveryMs: float64(res.MeanStateTime().Microseconds()) / 1000,
		Acked: uint64(res.AckedChecked / n), Promised: uint64(res.AckedChecked / n), Recovered: uint64(res.AckedChecked / n),
		Passed: len(res.Violations) == 0})
	return res.Unpromised
}

// barrierEntry is a crash state's finding, for the report.
func barrierEntry(s *crashtest.Session, v BarrierViolation, opts string) crashtest.Violation {
	// The phase stays out of the summary (it is in the detail): it comes
	// from when the kernel wrote the blocks, which a rerun may shift.
	summary := fmt.Sprintf("seed %d: crash state %s", v.Seed, v.State)
	return crashtest.Violation{Summary: summary, Detail: v.String(), Reproduction: barrierRepro(s, opts, v.Seed, v.State),
		Class: crashtest.Worst(v.Classes)}
}
