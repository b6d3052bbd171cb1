package ioerr

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// Scenario is the I/O error sweep as a campaign scenario: seeded workloads,
// one after the other, each swept at every operation.
var Scenario crashtest.Scenario = scenario{}

type scenario struct{}

func (scenario) Name() string { return "ioerrors" }

func (scenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Fail every filesystem operation of seeded workloads in turn with EIO, ENOSPC, a short write or a failed fsync",
		Long: `ioerrors runs a seeded workload once per filesystem operation that changes the
disk (commit writes and syncs, segment rotation, checkpoint, MANIFEST update,
compaction), failing that operation. The engine must return the error,
acknowledge nothing that failed, refuse every write after a failed fsync
while still serving reads, and hold every acknowledged commit after a
process crash or a power loss. at and error rerun one case.`,
		Unit: "failed operations", InAll: true, Budget: 30 * time.Second,
	}
}

func (scenario) Params() []crashtest.Param {
	return []crashtest.Param{
		crashtest.IntParam("ops", 70, 1, 10_000, "operations per workload"),
		{Name: "error", Default: "eio,enospc,short,fsync", Usage: "errors to inject: eio, enospc, short (writes), fsync (syncs)",
			Check: checkErrors},
		crashtest.OptionalIntParam("at", 0, 1<<30, "only the operation with this index (to rerun one case)"),
	}
}

func (scenario) Check(crashtest.Settings) error { return nil }

func checkErrors(v string) error {
	for _, e := range strings.Split(v, ",") {
		if _, ok := errorfs.ErrorNamed(strings.TrimSpace(e)); !ok {
			return fmt.Errorf("want a list of eio, enospc, short, fsync")
		}
	}
	return nil
}

func (scenario) Run(ctx context.Context, s *crashtest.Session) error {
	set := s.Settings
	var errs []string
	for _, e := range strings.Split(set.String("error"), ",") {
		errs = append(errs, strings.TrimSpace(e))
	}
	for done := 0; s.More(ctx, done); done++ {
		seed := s.Seed + uint64(s.Unit(done))
		cfg := Config{Workload: crashtest.WorkloadConfig{Seed: seed, Ops: set.Int("ops")}, Durability: s.Durability,
			Options: inmem.Options{SegmentSize: 4096}, Errors: errs, Stop: ctx.Done(), Plant: s.Plant}
		if set.Has("at") {
			at := set.Int("at")
			cfg.Only = &at
		}
		res, err := Sweep(cfg)
		if err != nil {
			return err
		}
		record(s, res, seed)
		s.Progress(done+1, s.Iterations, fmt.Sprintf("seed %d: %d runs", seed, res.Runs))
	}
	return nil
}

func record(s *crashtest.Session, res *Result, seed uint64) {
	s.Found.Runs += res.Runs
	s.Found.AckedVerified += res.AckedKept
	for _, v := range res.Violations {
		s.Violation(crashtest.Violation{
			Summary: fmt.Sprintf("seed %d: %s at operation %d", seed, v.Injected, v.OpIndex),
			Detail:  v.String(),
			Reproduction: s.Reproduction(seed,
				crashtest.Setting{Name: "ops", Value: s.Settings.String("ops")},
				crashtest.Setting{Name: "at", Value: strconv.Itoa(v.OpIndex)},
				crashtest.Setting{Name: "error", Value: v.Injected}),
		})
	}
}
