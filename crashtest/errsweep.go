package crashtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// SweepConfig configures an I/O error sweep.
type SweepConfig struct {
	Workload   WorkloadConfig
	Durability inmem.Durability
	Options    inmem.Options
	// Errors are the errors to inject, by errorfs.ErrorNamed name: eio,
	// enospc, short (writes only), fsync (syncs only). Default: all.
	Errors []string
	// Only, if set, injects only at this operation index.
	Only *int
	// WrapFS, if set, wraps the error-injecting filesystem the engine sees:
	// a seam to prove the sweep catches a layer that hides errors.
	WrapFS func(vfs.FS) vfs.FS
	// Workers run in parallel. Default 2.
	Workers  int
	Progress func(done, total int)
}

// SweepResult summarizes an I/O error sweep.
type SweepResult struct {
	FSOps      int // filesystem operations that change something, in the workload
	Runs       int // workload runs, each with one injected error
	Surfaced   int // runs where the injected error reached the caller
	FailStops  int // runs that ended in the failed state
	AckedKept  int // acknowledged operations found after reopening, summed
	Violations []SweepViolation
	Duration   time.Duration
}

// SweepViolation is one injected error the engine mishandled.
type SweepViolation struct {
	OpIndex    int    // the failed operation, counting changes from 0
	Op         string // what it was
	Injected   string // the error injected
	Problem    string
	Mismatches []StateMismatch
	Reproduce  string
}

func (v SweepViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s injected at operation %d (%s): %s\n", v.Injected, v.OpIndex, v.Op, v.Problem)
	for i, m := range v.Mismatches {
		if i == 10 {
			fmt.Fprintf(&b, "  ... %d more\n", len(v.Mismatches)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", m)
	}
	fmt.Fprintf(&b, "  reproduce: %s", v.Reproduce)
	return b.String()
}

// ErrorSweep runs the workload once per filesystem operation that changes
// something (commit writes and syncs, segment rotation, checkpoint, MANIFEST
// update, compaction), failing that one operation with each applicable
// error, the way SQLite's I/O error tests do. Each run must: surface the
// error to a caller, acknowledge nothing that failed, go fail-stop after a
// failed sync (every later write refused, reads still served), and, reopened
// after a process crash or a power loss, hold every acknowledged commit.
func ErrorSweep(cfg SweepConfig) (*SweepResult, error) {
	start := time.Now()
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	ops, err := sweepOps(cfg)
	if err != nil {
		return nil, err
	}
	type job struct {
		index int
		op    errorfs.Op
		name  string
	}
	var jobs []job
	for i, op := range ops {
		if cfg.Only != nil && *cfg.Only != i {
			continue
		}
		for _, name := range sweepErrors(cfg.Errors, op.Kind) {
			jobs = append(jobs, job{i, op, name})
		}
	}
	res := &SweepResult{FSOps: len(ops)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan job)
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				out := sweepOne(cfg, j.index, j.op, j.name)
				mu.Lock()
				res.Runs++
				res.AckedKept += out.acked
				if out.surfaced {
					res.Surfaced++
				}
				if out.failStop {
					res.FailStops++
				}
				if out.violation != nil {
					res.Violations = append(res.Violations, *out.violation)
				}
				if cfg.Progress != nil {
					cfg.Progress(res.Runs, len(jobs))
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	res.Duration = time.Since(start)
	return res, nil
}

// sweepErrors returns the errors that apply to an operation kind.
func sweepErrors(names []string, kind errorfs.OpKind) []string {
	if len(names) == 0 {
		names = []string{"eio", "enospc", "short", "fsync"}
	}
	var out []string
	for _, n := range names {
		switch {
		case n == "short" && kind != errorfs.OpWrite:
		case n == "fsync" && kind != errorfs.OpSync:
		case (n == "eio" || n == "enospc") && kind == errorfs.OpSync:
		default:
			out = append(out, n)
		}
	}
	return out
}

// sweepOps runs the workload once without errors and returns its changing
// operations in order.
func sweepOps(cfg SweepConfig) ([]errorfs.Op, error) {
	var mu sync.Mutex
	var ops []errorfs.Op
	rec := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.IsMutation() {
			mu.Lock()
			ops = append(ops, op)
			mu.Unlock()
		}
		return nil
	})
	out := runSweepWorkload(cfg, errorfs.Wrap(vfs.NewMemFS(), rec))
	if out.openErr != nil {
		return nil, out.openErr
	}
	if len(out.runner.mismatches) > 0 {
		return nil, fmt.Errorf("crashtest: the workload disagreed with the model without any error injected: %v", out.runner.mismatches)
	}
	return ops, nil
}

type sweepRun struct {
	openErr  error
	closeErr error
	runner   *ScenarioRunner
	model    *ReferenceModel
	live     Verdict // the still-open database judged before Close
}

const sweepDir = "/db"

func runSweepWorkload(cfg SweepConfig, fsys vfs.FS) sweepRun {
	if cfg.WrapFS != nil {
		fsys = cfg.WrapFS(fsys)
	}
	o := cfg.Options
	o.FS, o.Durability = fsys, cfg.Durability
	db, err := inmem.Open(sweepDir, &o)
	if err != nil {
		return sweepRun{openErr: err}
	}
	model := NewReferenceModel()
	r := newRunner(db, model, make(chan struct{}), time.Minute, 0)
	r.tolerant = true
	g := NewGenerator(cfg.Workload, 0, "")
	for i := 0; i < g.cfg.Ops; i++ {
		g.Next().Run(r)
	}
	live := model.Judge(db, Promise{Durability: cfg.Durability, Crash: ProcessKill})
	return sweepRun{closeErr: db.Close(), runner: r, model: model, live: live}
}

type sweepOutcome struct {
	surfaced, failStop bool
	acked              int
	violation          *SweepViolation
}

func sweepOne(cfg SweepConfig, index int, op errorfs.Op, name string) sweepOutcome {
	injected, _ := errorfs.ErrorNamed(name)
	mem := vfs.NewMemFS()
	fsys := errorfs.Wrap(mem, errorfs.OnIndex(int64(index), errorfs.Mutations, injected))
	run := runSweepWorkload(cfg, fsys)
	var out sweepOutcome
	fail := func(problem string, ms []StateMismatch) sweepOutcome {
		out.violation = &SweepViolation{OpIndex: index, Op: op.String(), Injected: name, Problem: problem, Mismatches: ms,
			Reproduce: fmt.Sprintf("go run ./cmd/inmem crash ioerrors --seed %d --iterations 1 --ops %d --durability %s --at %d --error %s",
				cfg.Workload.Seed, cfg.Workload.Ops, cfg.Durability, index, name)}
		return out
	}
	errs := []error{run.openErr, run.closeErr}
	if run.runner != nil {
		errs = append(run.runner.errs, run.closeErr)
	}
	for _, e := range errs {
		if e != nil && errors.Is(e, injected) {
			out.surfaced = true
		}
		if e != nil && errors.Is(e, inmem.ErrFailed) {
			out.failStop = true
		}
	}
	if !out.surfaced {
		return fail("the injected error never reached a caller", nil)
	}
	if run.openErr != nil {
		return sweepReopen(cfg, mem, NewReferenceModel(), out, fail)
	}
	if msg := checkFailStop(run.runner, op, run.closeErr); msg != "" {
		return fail(msg, nil)
	}
	if len(run.live.Mismatches) > 0 {
		return fail("the open database did not serve exactly the acknowledged commits", run.live.Mismatches)
	}
	return sweepReopen(cfg, mem, run.model, out, fail)
}

// checkFailStop: after a failed sync the database must be failed; once
// failed, every later operation must be refused with ErrFailed and none
// acknowledged.
func checkFailStop(r *ScenarioRunner, op errorfs.Op, closeErr error) string {
	failed := false
	for _, o := range r.model.ops {
		switch {
		case o.err != nil && errors.Is(o.err, inmem.ErrFailed):
			failed = true
		case failed && o.Status == Acked:
			return fmt.Sprintf("operation #%d was acknowledged after the database failed", o.Index)
		case failed && o.err != nil:
			return fmt.Sprintf("after the database failed, operation #%d returned %v instead of ErrFailed", o.Index, o.err)
		}
	}
	if op.Kind == errorfs.OpSync && !failed && !errors.Is(closeErr, inmem.ErrFailed) {
		return "a failed sync did not put the database in the failed state"
	}
	return ""
}

// sweepReopen reopens the filesystem as a process crash and as a power loss
// would leave it and judges each against the model.
func sweepReopen(cfg SweepConfig, mem *vfs.MemFS, model *ReferenceModel, out sweepOutcome,
	fail func(string, []StateMismatch) sweepOutcome) sweepOutcome {
	for _, mode := range []vfs.CrashMode{vfs.KeepUnsynced, vfs.DropUnsynced} {
		typ := ProcessKill
		if mode == vfs.DropUnsynced {
			typ = PowerLoss
		}
		o := cfg.Options
		o.FS, o.Durability = mem.Crash(vfs.CrashPolicy{Mode: mode}), cfg.Durability
		db, err := inmem.Open(sweepDir, &o)
		if err != nil {
			return fail(fmt.Sprintf("reopening after a %s failed: %v", typ, err), nil)
		}
		v := model.Judge(db, Promise{Durability: cfg.Durability, Crash: typ})
		db.Close()
		out.acked += v.AckedKept
		if len(v.Mismatches) > 0 {
			return fail(fmt.Sprintf("reopened after a %s", typ), v.Mismatches)
		}
	}
	return out
}
