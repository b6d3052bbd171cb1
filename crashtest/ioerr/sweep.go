package ioerr

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/in-mem/inmem/crashtest"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

// Config configures an I/O error sweep.
type Config struct {
	Workload   crashtest.WorkloadConfig
	Durability inmem.Durability
	Options    inmem.Options
	// Errors are the errors to inject, by errorfs.ErrorNamed name: eio,
	// enospc, short (writes only), fsync (syncs only). Default: all.
	Errors []string
	// Only, if set, injects only at this operation index. An index beyond
	// the workload's operations, or one none of Errors applies to, is a
	// *crashtest.SettingError.
	Only *int
	// Stop, if set, ends the sweep (after the runs under way) once closed.
	Stop <-chan struct{}
	// Plant, if set, changes every database the sweep opens (see
	// crashtest.Session.Plant).
	Plant func(*inmem.Options)
	// Workers run in parallel. Default 2.
	Workers  int
	Progress func(done, total int)
}

// Result summarizes an I/O error sweep.
type Result struct {
	FSOps      int // filesystem operations that change something, in the workload
	Runs       int // workload runs, each with one injected error
	Surfaced   int // runs where the injected error reached the caller
	FailStops  int // runs that ended in the failed state
	AckedKept  int // acknowledged operations found after reopening, summed
	Violations []Violation
	Duration   time.Duration
}

// Violation is one injected error the engine mishandled.
type Violation struct {
	OpIndex    int    // the failed operation, counting changes from 0
	Op         string // what it was
	Injected   string // the error injected
	Problem    string
	Mismatches []crashtest.StateMismatch
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s injected at operation %d (%s): %s\n", v.Injected, v.OpIndex, v.Op, v.Problem)
	crashtest.WriteMismatches(&b, v.Mismatches)
	return strings.TrimRight(b.String(), "\n")
}

// Sweep runs the workload once per filesystem operation that changes
// something (commit writes and syncs, segment rotation, checkpoint, MANIFEST
// update, compaction), failing that one operation with each applicable
// error, the way SQLite's I/O error tests do. Each run must: surface the
// error to a caller, acknowledge nothing that failed, go fail-stop after a
// failed sync (every later write refused, reads still served), and, reopened
// after a process crash or a power loss, hold every acknowledged commit.
func Sweep(cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	ops, err := sweepOps(cfg)
	if err != nil {
		return nil, err
	}
	jobs, err := plan(cfg, ops)
	if err != nil {
		return nil, err
	}
	res := &Result{FSOps: len(ops)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan job)
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				out := sweepOne(cfg, j)
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
		select {
		case ch <- j:
			continue
		case <-cfg.Stop:
		}
		break
	}
	close(ch)
	wg.Wait()
	res.Duration = time.Since(start)
	return res, nil
}

// job is one run of the sweep: the operation to fail and the error. rank
// is how many operations of the same kind on the same file came before it
// in the recording: see onRank.
type job struct {
	index int
	op    errorfs.Op
	name  string
	rank  int64
}

// plan lists the runs: every operation (or Only) with every error that
// applies to it.
func plan(cfg Config, ops []errorfs.Op) ([]job, error) {
	var jobs []job
	ranks := map[[2]string]int64{}
	for i, op := range ops {
		key := [2]string{op.Kind.String(), op.Path}
		rank := ranks[key]
		ranks[key]++
		if cfg.Only != nil && *cfg.Only != i {
			continue
		}
		for _, name := range sweepErrors(cfg.Errors, op.Kind) {
			jobs = append(jobs, job{i, op, name, rank})
		}
	}
	switch {
	case cfg.Only == nil:
	case *cfg.Only < 0 || *cfg.Only >= len(ops):
		return nil, &crashtest.SettingError{Name: "at", Value: fmt.Sprint(*cfg.Only),
			Want: fmt.Sprintf("want 0 to %d: the workload has %d filesystem operations that change something", len(ops)-1, len(ops))}
	case len(jobs) == 0:
		return nil, &crashtest.SettingError{Name: "error", Value: strings.Join(cfg.Errors, ","),
			Want: fmt.Sprintf("want an error that applies to operation %d (%s): %s", *cfg.Only, ops[*cfg.Only],
				strings.Join(sweepErrors(nil, ops[*cfg.Only].Kind), ", "))}
	}
	return jobs, nil
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
func sweepOps(cfg Config) ([]errorfs.Op, error) {
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
	if len(out.runner.Mismatches()) > 0 {
		return nil, fmt.Errorf("crashtest: the workload disagreed with the model without any error injected: %v", out.runner.Mismatches())
	}
	return ops, nil
}

type sweepRun struct {
	openErr  error
	closeErr error
	runner   *crashtest.ScenarioRunner
	model    *crashtest.ReferenceModel
	live     crashtest.Verdict // the still-open database judged before Close
}

const sweepDir = "/db"

func runSweepWorkload(cfg Config, fsys vfs.FS) sweepRun {
	o := crashtest.Replayable(cfg.Options)
	o.FS, o.Durability = fsys, cfg.Durability
	db, err := inmem.Open(sweepDir, crashtest.Planted(o, cfg.Plant))
	if err != nil {
		return sweepRun{openErr: err}
	}
	model := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, model)
	r.TolerateErrors()
	g := crashtest.NewGenerator(cfg.Workload, 0, "")
	for i := 0; i < cfg.Workload.Ops; i++ {
		g.Next().Run(r)
	}
	live := model.Judge(db, crashtest.Promise{Durability: cfg.Durability, Crash: crashtest.ProcessKill})
	return sweepRun{closeErr: db.Close(), runner: r, model: model, live: live}
}

type sweepOutcome struct {
	surfaced, failStop bool
	acked              int
	violation          *Violation
}

func sweepOne(cfg Config, j job) sweepOutcome {
	index, op, name := j.index, j.op, j.name
	injected, _ := errorfs.ErrorNamed(name)
	mem := vfs.NewMemFS()
	fsys := errorfs.Wrap(mem, onRank(op, j.rank, injected))
	run := runSweepWorkload(cfg, fsys)
	var out sweepOutcome
	fail := func(problem string, ms []crashtest.StateMismatch) sweepOutcome {
		out.violation = &Violation{OpIndex: index, Op: op.String(), Injected: name, Problem: problem, Mismatches: ms}
		return out
	}
	errs := []error{run.openErr, run.closeErr}
	if run.runner != nil {
		errs = append(run.runner.Errors(), run.closeErr)
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
		return sweepReopen(cfg, mem, crashtest.NewReferenceModel(), out, fail)
	}
	if msg := checkFailStop(run.runner, op, run.closeErr); msg != "" {
		return fail(msg, nil)
	}
	if len(run.live.Mismatches) > 0 {
		return fail("the open database did not serve exactly the acknowledged commits", run.live.Mismatches)
	}
	return sweepReopen(cfg, mem, run.model, out, fail)
}

// onRank fails the operation of op's kind on op's file that rank others
// of the same kind on that file preceded: the recording's operation, found
// by its place among its peers rather than among all operations. NB: the
// engine writes segments ahead of the log on a goroutine of its own, whose
// operations may fall elsewhere among the others from run to run; the
// peers of an operation on one file keep their order, and whichever of them
// fails (a record's write or the zeros', a commit's sync or the
// preparation's) must be met the same way.
func onRank(op errorfs.Op, rank int64, err error) errorfs.Injector {
	var seen atomic.Int64
	return errorfs.InjectorFunc(func(o errorfs.Op) error {
		if o.Kind != op.Kind || o.Path != op.Path {
			return nil
		}
		if seen.Add(1)-1 == rank {
			return err
		}
		return nil
	})
}

// checkFailStop: after a failed sync the database must be failed; once
// failed, every later operation must be refused with ErrFailed and none
// acknowledged.
func checkFailStop(r *crashtest.ScenarioRunner, op errorfs.Op, closeErr error) string {
	failed := false
	for _, o := range r.Model().Ops() {
		switch {
		case o.Cause() != nil && errors.Is(o.Cause(), inmem.ErrFailed):
			failed = true
		case failed && o.Status == crashtest.Acked:
			return fmt.Sprintf("operation #%d was acknowledged after the database failed", o.Index)
		case failed && o.Cause() != nil:
			return fmt.Sprintf("after the database failed, operation #%d returned %v instead of ErrFailed", o.Index, o.Cause())
		}
	}
	if op.Kind == errorfs.OpSync && !failed && !errors.Is(closeErr, inmem.ErrFailed) {
		return "a failed sync did not put the database in the failed state"
	}
	return ""
}

// sweepReopen reopens the filesystem as a process crash and as a power loss
// would leave it and judges each against the model.
func sweepReopen(cfg Config, mem *vfs.MemFS, model *crashtest.ReferenceModel, out sweepOutcome,
	fail func(string, []crashtest.StateMismatch) sweepOutcome) sweepOutcome {
	for _, mode := range []vfs.CrashMode{vfs.KeepUnsynced, vfs.DropUnsynced} {
		typ := crashtest.ProcessKill
		if mode == vfs.DropUnsynced {
			typ = crashtest.PowerLoss
		}
		o := crashtest.Replayable(cfg.Options)
		o.FS, o.Durability = mem.Crash(vfs.CrashPolicy{Mode: mode}), cfg.Durability
		db, err := inmem.Open(sweepDir, crashtest.Planted(o, cfg.Plant))
		if err != nil {
			return fail(fmt.Sprintf("reopening after a %s failed: %v", typ, err), nil)
		}
		v := model.Judge(db, crashtest.Promise{Durability: cfg.Durability, Crash: typ})
		db.Close()
		out.acked += v.AckedKept
		if len(v.Mismatches) > 0 {
			return fail(fmt.Sprintf("reopened after a %s", typ), v.Mismatches)
		}
	}
	return out
}
