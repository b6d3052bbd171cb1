package crashtest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/in-mem/inmem"
)

// ErrMaxOperations is returned by a ScenarioRunner operation once the
// configured maximum number of operations ran.
var ErrMaxOperations = errors.New("crashtest: maximum number of operations reached")

// ScenarioRunner executes a scenario's operations against an open database
// and records each in the reference model. The database stays open across
// operations, as in a real application: opening and closing around each one
// would sync everything and hide the bugs a crash test exists to find.
//
// Each operation returns ErrCrashed once the crash has happened (the
// scenario should then return), or the database's own error (for example a
// CAS mismatch, errors.Is ErrVersionMismatch). The runner also checks every
// outcome against the model while the scenario runs: a version, sequence
// number or failure the model does not predict is a mismatch of the result.
type ScenarioRunner struct {
	db      *inmem.DB
	model   *ReferenceModel
	crashed <-chan struct{}
	timeout time.Duration
	maxOps  int
	done    int

	mismatches []StateMismatch
	hung       bool
	// tolerant treats an error the model did not predict as an I/O failure
	// under test: the operation stays in flight (it may or may not have
	// reached the disk) instead of being a mismatch.
	tolerant bool
	errs     []error // every error an operation returned, in order
	// open opens the database again after Close (Reopen); nil: the
	// runner cannot reopen.
	open func() (*inmem.DB, error)
	// after, if set, is told about every finished operation (the
	// kill-then-power-loss crashes note what each promised).
	after func()
}

func newRunner(db *inmem.DB, m *ReferenceModel, crashed <-chan struct{}, timeout time.Duration, maxOps int) *ScenarioRunner {
	return &ScenarioRunner{db: db, model: m, crashed: crashed, timeout: timeout, maxOps: maxOps}
}

// DB returns the database under test, for reads. Writes must go through the
// runner so that the model sees them.
func (r *ScenarioRunner) DB() *inmem.DB { return r.db }

// Model returns the reference model.
func (r *ScenarioRunner) Model() *ReferenceModel { return r.model }

// OperationsCompleted returns how many operations completed (acknowledged
// or failed) before the crash.
func (r *ScenarioRunner) OperationsCompleted() int { return r.done }

// Crashed reports whether the crash has happened.
func (r *ScenarioRunner) Crashed() bool {
	select {
	case <-r.crashed:
		return true
	default:
		return false
	}
}

// KVPut puts a value in one transaction (creating the run if needed).
func (r *ScenarioRunner) KVPut(run, key string, value []byte) error {
	return r.Update(Put(run, key, value))
}

// KVDelete deletes a key.
func (r *ScenarioRunner) KVDelete(run, key string) error { return r.Update(Delete(run, key)) }

// EventAppend appends an event.
func (r *ScenarioRunner) EventAppend(run string, payload []byte) error {
	return r.Update(Append(run, payload))
}

// StateSet sets a state cell.
func (r *ScenarioRunner) StateSet(run, cell string, value []byte) error {
	return r.Update(Set(run, cell, value))
}

// StateCAS sets a state cell if it is at version expected.
func (r *ScenarioRunner) StateCAS(run, cell string, expected inmem.Version, value []byte) error {
	return r.Update(CAS(run, cell, expected, value))
}

// Checkpoint takes a checkpoint.
func (r *ScenarioRunner) Checkpoint() error {
	return r.maintenance(Op{Kind: OpCheckpoint}, func() error {
		_, err := r.db.Checkpoint()
		return err
	})
}

// Compact compacts.
func (r *ScenarioRunner) Compact(mode inmem.CompactMode) error {
	return r.maintenance(Op{Kind: OpCompact, Mode: mode}, func() error {
		_, err := r.db.Compact(mode)
		return err
	})
}

// Flush syncs the log.
func (r *ScenarioRunner) Flush() error {
	return r.maintenance(Op{Kind: OpFlush}, r.db.Flush)
}

// Close closes the database cleanly: a lifecycle step the model knows.
// Everything acknowledged before it returned must survive any later crash.
// Operations after it fail with inmem.ErrClosed, until Reopen.
func (r *ScenarioRunner) Close() error {
	return r.maintenance(Op{Kind: OpClose}, r.db.Close)
}

// Reopen closes the database cleanly and opens it again, recovering what
// it wrote: the lifecycle of an application that restarts. It needs the
// runner to know how to open the database (SetOpen).
func (r *ScenarioRunner) Reopen() error {
	if r.open == nil {
		return errors.New("crashtest: Reopen on a runner that cannot open the database (see SetOpen)")
	}
	var opened *inmem.DB // set by the operation's goroutine; read once it returned
	old := r.db
	err := r.maintenance(Op{Kind: OpReopen}, func() error {
		if err := old.Close(); err != nil {
			return err
		}
		db, err := r.open()
		opened = db
		return err
	})
	if err == nil {
		r.db = opened
	}
	return err
}

// SetOpen tells the runner how to open its database again, for Reopen.
func (r *ScenarioRunner) SetOpen(open func() (*inmem.DB, error)) { r.open = open }

type outcome struct {
	version inmem.Version
	seqs    []uint64
	runIDs  map[string]inmem.RunID
	err     error
}

// start checks that another operation may run.
func (r *ScenarioRunner) start() error {
	if r.Crashed() || r.hung {
		return ErrCrashed
	}
	if r.maxOps > 0 && len(r.model.ops) >= r.maxOps {
		return ErrMaxOperations
	}
	return nil
}

// exec runs fn on its own goroutine and waits for its outcome or the crash.
// A crash parks the goroutine that hit the crash point, so an operation the
// crash interrupted never returns here.
func (r *ScenarioRunner) exec(fn func() outcome) (outcome, bool) {
	done := make(chan outcome, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(r.timeout)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.err != nil && r.Crashed() {
			return o, true
		}
		return o, false
	case <-r.crashed:
		return outcome{}, true
	case <-timer.C:
		r.hung = true
		r.mismatch("liveness", fmt.Sprintf("the operation to finish within %s", r.timeout), "it hung")
		return outcome{}, true
	}
}

func (r *ScenarioRunner) mismatch(entity, expected, actual string) {
	r.mismatches = append(r.mismatches, StateMismatch{Entity: entity, Expected: expected, Actual: actual})
}

func (r *ScenarioRunner) maintenance(op Op, fn func() error) error {
	if err := r.start(); err != nil {
		return err
	}
	p := r.model.Begin(op)
	o, crashed := r.exec(func() outcome { return outcome{err: fn()} })
	if crashed {
		return ErrCrashed
	}
	r.done++
	if o.err != nil {
		r.errs = append(r.errs, o.err)
		r.model.Fail(p, o.err)
		if !r.tolerant {
			r.mismatch(fmt.Sprintf("op#%d", p.Index), op.Kind.String()+" to succeed", o.err.Error())
		}
		return o.err
	}
	r.model.Ack(p, 0, nil)
	if op.Kind == OpCompact && op.Mode == inmem.CompactFull {
		r.model.compacted(p)
	}
	if op.Kind != OpCompact || op.Mode == inmem.CompactFull {
		r.model.Synced()
	}
	if r.after != nil {
		r.after()
	}
	return nil
}

// Update commits writes as one transaction: all or nothing.
func (r *ScenarioRunner) Update(writes ...Write) error {
	if len(writes) == 0 {
		return nil
	}
	if err := r.start(); err != nil {
		return err
	}
	ws, pred := r.model.predict(writes)
	op := r.model.Begin(Op{Kind: OpWrite, Writes: ws})
	in := &intent{clock: r.model.now}
	o, crashed := r.exec(func() outcome { return commitWrites(r.db, ws, in) })
	if v, at, ok := in.load(); ok {
		r.model.intentAt(op, v, at)
	}
	if crashed {
		return ErrCrashed
	}
	r.done++
	r.check(op, pred, o)
	if r.after != nil {
		r.after()
	}
	return o.err
}

// intent is the version a transaction announced, with the model's clock at
// that moment. It is written by the goroutine running the transaction and
// read by the runner.
type intent struct {
	clock func() uint64
	mu    sync.Mutex
	v     inmem.Version
	at    uint64
	set   bool
}

func (i *intent) store(v inmem.Version) {
	at := i.clock()
	i.mu.Lock()
	i.v, i.at, i.set = v, at, true
	i.mu.Unlock()
}

func (i *intent) load() (inmem.Version, uint64, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.v, i.at, i.set
}

// commitWrites runs writes in one transaction, announcing the version the
// transaction will commit as just before it commits.
func commitWrites(db *inmem.DB, ws []Write, in *intent) outcome {
	var seqs []uint64
	ids := map[string]inmem.RunID{}
	v, err := db.Commit(func(tx *inmem.Tx) error {
		seqs = seqs[:0]
		for _, w := range ws {
			seq, err := w.Apply(tx)
			if err != nil {
				return err
			}
			if w.Kind == WriteEventAppend {
				seqs = append(seqs, seq)
			}
			if ids[w.Run], err = tx.ResolveRun(w.Run); err != nil {
				return err
			}
		}
		in.store(tx.Version())
		return nil
	})
	return outcome{version: v, seqs: seqs, runIDs: ids, err: err}
}

// Apply makes the write in tx, creating its run if needed, and returns
// the sequence number of an appended event.
func (w Write) Apply(tx *inmem.Tx) (uint64, error) {
	if w.Kind == WriteCreateRun {
		_, err := tx.CreateRun(w.Run)
		return 0, err
	}
	id, err := tx.GetOrCreateRun(w.Run)
	if err != nil {
		return 0, err
	}
	switch w.Kind {
	case WriteKVPut:
		return 0, tx.KVPut(id, w.Key, w.Value)
	case WriteKVDelete:
		return 0, tx.KVDelete(id, w.Key)
	case WriteEventAppend:
		return tx.EventAppend(id, w.Value)
	case WriteStateSet:
		return 0, tx.StateSet(id, w.Key, w.Value)
	case WriteStateCAS:
		return 0, tx.StateCAS(id, w.Key, w.Expected, w.Value)
	case WriteRetention:
		return 0, tx.SetRetentionPolicy(id, w.policy())
	}
	return 0, fmt.Errorf("crashtest: unknown write kind %d", w.Kind)
}

// check records the outcome of a write operation and compares it with the
// prediction.
func (r *ScenarioRunner) check(op *Op, pred prediction, o outcome) {
	entity := fmt.Sprintf("op#%d", op.Index)
	want := r.model.Latest() + 1
	if o.err != nil {
		r.errs = append(r.errs, o.err)
	}
	predicted := o.err != nil && pred.sameFailure(o.err) && o.version == 0
	switch {
	case o.err != nil && r.tolerant && (pred.failure == nil || !errors.Is(o.err, pred.failure)):
		// An injected I/O failure: the operation was not acknowledged and
		// stays in flight.
		op.err, op.Err = o.err, o.err.Error()
	case predicted:
		r.model.Fail(op, o.err)
	case o.err != nil:
		r.model.Fail(op, o.err)
		exp := "success at v" + fmt.Sprint(want)
		if pred.mismatch != nil {
			exp = pred.mismatch.Error()
		} else if pred.failure != nil {
			exp = pred.failure.Error()
		}
		r.mismatch(entity, exp, fmt.Sprintf("v%d, %v", o.version, o.err))
	case pred.failure != nil:
		r.mismatch(entity, pred.failure.Error(), fmt.Sprintf("success at v%d", o.version))
		r.model.Ack(op, o.version, o.seqs)
	default:
		if o.version != want {
			r.mismatch(entity, fmt.Sprintf("version v%d", want), fmt.Sprintf("v%d", o.version))
		}
		if fmt.Sprint(o.seqs) != fmt.Sprint(pred.seqs) {
			r.mismatch(entity, fmt.Sprintf("event sequence numbers %v", pred.seqs), fmt.Sprint(o.seqs))
		}
		op.runIDs = o.runIDs
		r.model.Ack(op, o.version, o.seqs)
	}
}

// TolerateErrors makes the runner treat an error the model did not predict
// as an injected I/O failure under test: the operation stays in flight (it
// may or may not have reached the disk) instead of being a mismatch.
func (r *ScenarioRunner) TolerateErrors() { r.tolerant = true }

// Errors returns every error an operation returned, in order.
func (r *ScenarioRunner) Errors() []error { return r.errs }

// NewRunner returns a runner that records every operation on db in m,
// without any crash: to build a history to damage, or to check your own use
// of a database against the model (then call m.Compare).
func NewRunner(db *inmem.DB, m *ReferenceModel) *ScenarioRunner {
	return newRunner(db, m, make(chan struct{}), time.Minute, 0)
}

// Mismatches returns the disagreements between the database and the model
// the runner saw while operations ran.
func (r *ScenarioRunner) Mismatches() []StateMismatch { return r.mismatches }
