package lazyfs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/vfs"
)

// Scenario is the lazy filesystem's exploration as a campaign scenario:
// seeded workloads, one after the other, each recorded once on a lazy
// mount and crashed at every sync and at random moments under every
// policy. It runs wherever FUSE does (crashtest.Conditional).
var Scenario crashtest.Scenario = scenario{}

type scenario struct{}

// lazyPoint is the scenario's row of the crash matrix: it crashes at no
// named crash point.
const lazyPoint = "every sync, random moments"

func (scenario) Name() string { return "lazy" }

func (scenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Judge every crash state of a workload child's file operations on a lazy FUSE filesystem that loses what was not synced (needs FUSE)",
		Long: `lazy runs a seeded workload child (ops per writer) on a lazy filesystem: a
FUSE mount of our own that keeps what is written in its cache until it is
synced (a file's data by its fsync, a create, rename or remove by the fsync
of its directory) and logs every operation it serves, with every
acknowledgement stamped in that order. From the log it builds, with the
same model vfs.MemFS crashes by, the state a power loss leaves right before
and right after every sync, at random moments (random-points) and at the
end, under every policy: drop (everything unsynced lost), pages:SEED (a
seeded subset of the unsynced 4 KiB pages kept, some torn at 512-byte
sectors), reorder:SEED (a later unsynced write kept while an earlier one is
lost; a directory's changes survive in order under every policy), random:SEED and keep. The workload closes the database cleanly and
opens it again twice (after each third of it; reopen-every changes that),
so states fall after a Close and after a reopen too. Each state is
recovered and judged against everything acknowledged before its crash
point. No state is mounted: one
mount records, memory builds the rest. at and policy rebuild one state.

target crashes another engine, as with kernel and barriers: its recorded
workload is created, written, closed and reopened twice (reopen-every), and
every state is judged with the key/value model; a configuration that
promises nothing under a power loss (bbolt-nosync, sqlite-off) is reported
losing acknowledged writes, not failed. live crashes only in-mem's own
workload. It needs FUSE (/dev/fuse, and root or fusermount); where FUSE is
missing it says so, and crash all skips it saying so.`,
		Unit: "crash states", InAll: true, Budget: 30 * time.Second,
	}
}

// Unavailable makes the scenario run in `inmem crash all` only where FUSE
// does.
func (scenario) Unavailable() error { return Available() }

func (scenario) Params() []crashtest.Param {
	return append([]crashtest.Param{
		crashtest.IntParam("ops", 64, 1, 100_000, "operations per writer"),
		crashtest.IntParam("writers", 1, 1, 64, "concurrent writers in the child (1: the seed fixes the operations)"),
		crashtest.PoliciesParam("drop,pages,reorder"),
		crashtest.IntParam("states", 1, 1, 1000, "seeds per seeded policy per crash point"),
		crashtest.IntParam("random-points", 8, 0, 100_000, "crash points at random moments, besides every sync and the end"),
		crashtest.IntParam("max-states", 0, 0, 1<<30, "judge a seeded sample of at most this many states per workload (0: all)"),
		crashtest.IntParam("live", 3, 0, 100_000, "then crash a child running on the mount this many times at random moments, recovering on the same mount each time"),
		crashtest.OptionalIntParam("at", 0, 1<<30, "only the crash after this many logged operations (to rebuild one state)"),
		{Name: "policy", Usage: "with at: the policy of that state: drop, keep, random:SEED, pages:SEED or reorder:SEED",
			Check: func(v string) error { _, err := ParsePolicy(v); return err }},
	}, proc.TargetParams()...)
}

// liveDefault is the live setting's default.
const liveDefault = "3"

// lazyReopens is how many times a Target's recorded workload is closed and
// reopened by default.
const lazyReopens = 2

func (scenario) Check(s crashtest.Settings) error {
	if !proc.InmemOwn(s) && s.String("live") != "0" && s.String("live") != liveDefault {
		return &crashtest.SettingError{Name: "live", Value: s.String("live"), Want: "live crashes only in-mem's own workload: leave it out with target"}
	}
	if s.Has("at") != s.Has("policy") {
		return &crashtest.SettingError{Name: "at", Value: s.String("at"), Want: "at and policy go together: they rebuild one state"}
	}
	return proc.CheckTarget(s)
}

func (scenario) IgnoresDurability(s crashtest.Settings) bool { return !proc.InmemOwn(s) }

// config builds the exploration of one workload from the settings.
func config(ctx context.Context, s *crashtest.Session, seed uint64) Config {
	set, params := s.Settings, Scenario.Params()
	ops, writers := proc.DepthInt(set, params, "ops", 300), set.Int("writers")
	reopen := max(ops*writers/(lazyReopens+1), 1)
	child, target := proc.TargetChild(s, reopen)
	cfg := Config{Child: child, Target: target, Seed: seed, Durability: s.Durability, Ops: ops, Writers: writers,
		States: proc.DepthInt(set, params, "states", 4), RandomPoints: set.Int("random-points"), MaxStates: set.Int("max-states"),
		Dir: s.Dir, Stop: ctx.Done()}
	if target == nil {
		cfg.ReopenEvery = proc.ReopenEvery(set, reopen)
		if proc.Deep(set) {
			cfg.SegmentSize = 4 << 10
		}
	}
	if cfg.RandomPoints == 0 {
		cfg.RandomPoints = -1
	}
	cfg.Policies, _ = vfs.ParseCrashModes(set.String("policies"))
	if set.Has("at") {
		at := set.Int("at")
		p, _ := ParsePolicy(set.String("policy"))
		cfg.At, cfg.Policy = &at, &p
	}
	return cfg
}

func (scenario) Run(ctx context.Context, s *crashtest.Session) error {
	if err := Available(); err != nil {
		return err
	}
	if s.Child.Binary == "" {
		return errors.New("crashtest: the lazy scenario needs the workload child's binary (Session.Child)")
	}
	s.Found.Label = proc.TargetLabel(s)
	cell := crashtest.Cell{Point: lazyPoint, Kind: "lazy", Durability: proc.TargetLabel(s), Passed: true}
	unpromised := 0
	start, stateTime := time.Now(), time.Duration(0)
	for done := 0; s.More(ctx, done); done++ {
		seed := s.Seed + uint64(s.Unit(done))
		cfg := config(ctx, s, seed)
		cfg.Progress = func(n, total int) { s.Progress(n, total, fmt.Sprintf("seed %d", seed)) }
		res, err := Explore(cfg)
		if err != nil {
			return fmt.Errorf("seed %d: %w", seed, err)
		}
		book(s, &cell, res, seed, done)
		unpromised += res.Unpromised
		stateTime += res.StateTime
		if err := runLive(ctx, s, &cell, seed); err != nil {
			return fmt.Errorf("seed %d, live: %w", seed, err)
		}
	}
	cell.Duration = time.Since(start)
	cell.Expectation = crashtest.StatesExpectation("its crash point", cell.Runs, stateTime, unpromised)
	s.Found.Cells = append(s.Found.Cells, cell)
	return nil
}

// repro is the reproduction of one state (at and policy) or, without
// them, of a whole workload (live: up to that many live crashes).
func repro(s *crashtest.Session, seed uint64, v *Violation, live int) crashtest.Reproduction {
	r := s.Reproduction(seed)
	for _, name := range []string{"ops", "writers", "policies", "states", "random-points"} {
		r.Params = append(r.Params, crashtest.Setting{Name: name, Value: s.Settings.String(name)})
	}
	r.Params = append(r.Params, proc.TargetSettings(s.Settings)...)
	if v != nil {
		return withParams(r, crashtest.Setting{Name: "at", Value: strconv.Itoa(v.At)},
			crashtest.Setting{Name: "policy", Value: v.Policy.Spec()})
	}
	return withParams(r, crashtest.Setting{Name: "live", Value: strconv.Itoa(live)})
}

func withParams(r crashtest.Reproduction, set ...crashtest.Setting) crashtest.Reproduction {
	r.Params = append(r.Params, set...)
	return r
}

// runLive crashes a child running on a lazy mount the live setting's
// number of times (none when one state is rebuilt).
func runLive(ctx context.Context, s *crashtest.Session, cell *crashtest.Cell, seed uint64) error {
	set := s.Settings
	if set.Int("live") == 0 || set.Has("at") || !proc.InmemOwn(set) {
		return nil
	}
	lc := LiveConfig{ProcessCrashConfig: proc.ProcessCrashConfig{MinRuntime: 20 * time.Millisecond, MaxRuntime: 150 * time.Millisecond,
		Iterations: set.Int("live"), Seed: seed, Durability: s.Durability, Writers: set.Int("writers"),
		Args: s.Child.Args, Env: s.Child.Env, Stop: ctx.Done()}, Dir: s.Dir}
	lc.Policies, _ = vfs.ParseCrashModes(set.String("policies"))
	lc.Progress = func(r proc.KillIterationResult) { bookLive(s, cell, &lc, seed, r) }
	_, err := Live(s.Child.Binary, lc)
	return err
}

// bookLive books one live crash into the session and the cell.
func bookLive(s *crashtest.Session, cell *crashtest.Cell, lc *LiveConfig, seed uint64, r proc.KillIterationResult) {
	s.Found.Runs++
	s.Found.AckedVerified += r.AckedKept
	if r.RecoverySucceeded {
		s.Found.PermittedLoss += r.AckedLost // Buffered: acknowledged after the last completed sync
	} else {
		s.Found.AckedLost += r.AckedLost
	}
	cell.Runs++
	cell.Hits++
	cell.AckedVerified += r.AckedKept
	if !r.RecoverySucceeded {
		cell.Passed = false
		summary := fmt.Sprintf("seed %d: live crash %d, policy %s", seed, r.Iteration, lc.livePolicy(r.Iteration).Spec())
		cell.Failures = append(cell.Failures, summary)
		s.Violation(crashtest.Violation{Summary: summary, Detail: r.String(), Reproduction: repro(s, seed, nil, r.Iteration+1)})
	}
	s.Progress(r.Iteration+1, max(s.Settings.Int("live"), 0), fmt.Sprintf("seed %d, live crash", seed))
}

// book books one workload's exploration into the session and the cell.
func book(s *crashtest.Session, cell *crashtest.Cell, res *Result, seed uint64, index int) {
	f := &s.Found
	f.AddStates(res.StateTally)
	cell.AddStates(res.StateTally)
	cell.Reproduction = repro(s, seed, nil, s.Settings.Int("live"))
	for _, v := range res.Violations {
		cell.Passed = false
		summary := fmt.Sprintf("seed %d: crash after operation %d, policy %s", seed, v.At, v.Policy.Spec())
		cell.Failures = append(cell.Failures, summary)
		s.Violation(crashtest.Violation{Summary: summary, Detail: v.String(), Reproduction: repro(s, seed, &v, 0),
			Class: crashtest.Worst(v.Classes)})
	}
	for _, v := range res.Notices {
		summary := fmt.Sprintf("seed %d: crash after operation %d, policy %s", seed, v.At, v.Policy.Spec())
		s.Notice(crashtest.Violation{Summary: summary, Detail: v.String(), Reproduction: repro(s, seed, &v, 0),
			Class: crashtest.Worst(v.Classes)})
	}
	n := max(res.States, 1)
	f.Samples = append(f.Samples, crashtest.Sample{Index: index, RecoveryMs: float64(res.MeanStateTime().Microseconds()) / 1000,
		Acked: uint64(res.AckedChecked / n), Promised: uint64(res.AckedChecked / n), Recovered: uint64(res.AckedChecked / n),
		Passed: len(res.Violations) == 0})
}
