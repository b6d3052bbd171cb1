package powerloss

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

// Scenario is the power-loss exploration as a campaign scenario: seeded
// workloads, one after the other, each explored at every sync point.
var Scenario crashtest.Scenario = scenario{}

type scenario struct{}

func (scenario) Name() string { return "powerloss" }

func (scenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Explore every crash state of seeded workloads: every sync point, every crash policy",
		Long: `powerloss records the filesystem operations of a seeded workload, then for
every sync point (every-op: every operation) builds the crash states a power
loss can leave (drop: only synced data; keep: a process crash; random:
seeded subsets of the unsynced writes, torn at 512-byte sectors, and of
each directory's changes a prefix, in order; pages and reorder too),
recovers each and judges it against the reference model
as it stood at that moment. at and policy rebuild one state exactly.`,
		Unit: "crash states", InAll: true, Budget: 30 * time.Second,
	}
}

func (scenario) Params() []crashtest.Param {
	return []crashtest.Param{
		crashtest.IntParam("ops", 200, 1, 100_000, "operations per workload"),
		crashtest.PoliciesParam("drop,keep,random"),
		crashtest.IntParam("states", 4, 1, 1000, "random states per crash point"),
		{Name: "every-op", Kind: crashtest.KindBool, Default: "false", Usage: "crash after every filesystem operation, not only around syncs"},
		crashtest.OptionalIntParam("at", 0, 1<<30, "only the crash after this many filesystem operations (to rebuild one state)"),
		{Name: "policy", Usage: "with at: only this policy: drop, keep, random:SEED, pages:SEED or reorder:SEED", Check: checkPolicy},
	}
}

func (scenario) Check(s crashtest.Settings) error {
	if s.Has("policy") && !s.Has("at") {
		return &crashtest.SettingError{Name: "policy", Value: s.String("policy"), Want: "needs at: the crash point it rebuilds"}
	}
	return nil
}

func checkPolicy(v string) error {
	_, err := ParsePolicy(v)
	return err
}

// ParsePolicy parses a crash policy as reproductions spell it: drop, keep
// or MODE:SEED (random:7, pages:7, reorder:7).
func ParsePolicy(s string) (vfs.CrashPolicy, error) {
	p, err := vfs.ParseCrashPolicy(s)
	if err != nil {
		return p, fmt.Errorf("want drop, keep, random:SEED, pages:SEED or reorder:SEED")
	}
	return p, nil
}

// FormatPolicy spells a crash policy as ParsePolicy reads it.
func FormatPolicy(p vfs.CrashPolicy) string { return p.Spec() }

// config builds the exploration of one workload from the settings.
func config(ctx context.Context, s *crashtest.Session, seed uint64) Config {
	set := s.Settings
	cfg := Config{
		Workload: crashtest.WorkloadConfig{Seed: seed, Ops: set.Int("ops"), Lifecycle: true}, Durability: s.Durability,
		RandomStates: set.Int("states"), EveryOperation: set.Bool("every-op"),
		Options: inmem.Options{SegmentSize: 16 << 10}, Stop: ctx.Done(), Plant: s.Plant,
	}
	cfg.Policies, _ = vfs.ParseCrashModes(set.String("policies"))
	if set.Has("at") {
		at := set.Int("at")
		cfg.Only = &at
	}
	if set.Has("policy") {
		p, _ := ParsePolicy(set.String("policy"))
		cfg.OnlyPolicy = &p
	}
	return cfg
}

func (scenario) Run(ctx context.Context, s *crashtest.Session) error {
	for done := 0; s.More(ctx, done); done++ {
		seed := s.Seed + uint64(s.Unit(done))
		res, err := Explore(config(ctx, s, seed))
		if err != nil {
			return err
		}
		record(s, res, seed, done)
		s.Progress(done+1, s.Iterations, fmt.Sprintf("seed %d: %d states", seed, res.States))
	}
	return nil
}

// record books one workload's exploration into the session.
func record(s *crashtest.Session, res *Result, seed uint64, index int) {
	f := &s.Found
	f.Runs += res.States
	f.AckedVerified += res.AckedChecked
	f.AckedLost += res.AckedLost
	f.PermittedLoss += res.AckedAtCrash - res.AckedChecked - res.AckedLost
	for _, v := range res.Violations {
		s.Violation(crashtest.Violation{
			Summary: fmt.Sprintf("seed %d: crash after filesystem operation %d, policy %s", v.Seed, v.OpIndex, FormatPolicy(v.Policy)),
			Detail:  v.String(),
			Reproduction: s.Reproduction(seed,
				crashtest.Setting{Name: "ops", Value: s.Settings.String("ops")},
				crashtest.Setting{Name: "at", Value: strconv.Itoa(v.OpIndex)},
				crashtest.Setting{Name: "policy", Value: FormatPolicy(v.Policy)}),
		})
	}
	n := max(res.States, 1)
	f.Samples = append(f.Samples, crashtest.Sample{Index: index,
		RecoveryMs: float64(res.RecoveryTime.Microseconds()) / 1000 / float64(n),
		Acked:      uint64(res.AckedAtCrash / n), Promised: uint64(res.Promised / n), Recovered: uint64(res.AckedChecked / n),
		Passed: len(res.Violations) == 0})
}
