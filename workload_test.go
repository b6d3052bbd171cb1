package inmem_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// The workloads of these tests are crashtest's: its generator draws the
// writes, its reference model, the product's one, records every operation
// and judges every state the tests check.

var errAbort = errors.New("test: transaction aborted on purpose")

// workload is a seeded random workload over the public API: the writes of a
// crashtest.Generator, issued through a crashtest.ScenarioRunner so that
// the model m records each and checks its outcome, and now and then a probe
// the generator has no operation for: an empty run created, a transaction
// that aborts, one that goes on after a refused delete.
type workload struct {
	seed      uint64
	valueSize int    // bytes per value (0: the generator's default)
	retention bool   // also draw retention policies
	tag       string // prefixes keys, cells and the runs the probes create
	m         *crashtest.ReferenceModel
	g         *crashtest.Generator // drawn from on the first step
	rng       *rand.Rand
	mu        *sync.Mutex // guards m when writers share it; nil: one writer
}

func newWorkload(seed uint64) *workload {
	return &workload{seed: seed, m: crashtest.NewReferenceModel(), rng: rand.New(rand.NewPCG(seed, 0x70726f6265))}
}

// run issues n steps against db, failing the test on any outcome the model
// does not predict.
func (w *workload) run(t tb, db *inmem.DB, n int) {
	t.Helper()
	if err := w.steps(db, n); err != nil {
		t.Fatalf("%v", err)
	}
}

// steps issues n steps against db and returns the first outcome the model
// does not predict.
func (w *workload) steps(db *inmem.DB, n int) error {
	r := crashtest.NewRunner(db, w.m)
	for i := range n {
		if err := w.step(r); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		if ms := r.Mismatches(); ms != nil {
			return fmt.Errorf("step %d: the database disagrees with the model:\n%s", i, list(ms))
		}
	}
	return nil
}

// compact compacts db through a runner, so that the model knows where a
// full compaction trimmed.
func (w *workload) compact(t tb, db *inmem.DB, mode inmem.CompactMode) {
	t.Helper()
	if err := crashtest.NewRunner(db, w.m).Compact(mode); err != nil {
		t.Fatalf("Compact(%v): %v", mode, err)
	}
}

func (w *workload) step(r *crashtest.ScenarioRunner) error {
	switch x := w.rng.IntN(100); {
	case x < 2:
		return w.update(r, crashtest.CreateRun(w.probeRun()))
	case x < 5:
		last := r.DB().LastVersion()
		if err := abort(r.DB(), w.tag, w.key("aborted")); err != nil {
			return err
		}
		if v := r.DB().LastVersion(); v != last {
			return fmt.Errorf("an aborted transaction moved LastVersion from v%d to v%d", last, v)
		}
		return nil
	case x < 8:
		return w.goOn(r.DB())
	}
	return w.update(r, w.writes()...)
}

// update issues writes through the runner, which checks their outcome.
func (w *workload) update(r *crashtest.ScenarioRunner, ws ...crashtest.Write) error {
	if err := r.Update(ws...); err != nil && !crashtest.ExpectedFailure(err) {
		return err
	}
	return nil
}

// writes draws the writes of the generator's next operation, skipping
// maintenance (the tests checkpoint and compact where they mean to) and,
// without retention, retention policies.
func (w *workload) writes() []crashtest.Write {
	if w.g == nil {
		w.g = crashtest.NewGenerator(crashtest.WorkloadConfig{Seed: w.seed, ValueSize: w.valueSize}, 0, w.tag)
	}
	for {
		s := w.g.Next()
		if s.Kind == crashtest.OpWrite && (w.retention || !slices.ContainsFunc(s.Writes, isRetention)) {
			return s.Writes
		}
	}
}

func isRetention(w crashtest.Write) bool { return w.Kind == crashtest.WriteRetention }

// probeRun names one of the runs the probes create: now and then one that
// exists already.
func (w *workload) probeRun() string { return fmt.Sprintf("%sextra-%d", w.tag, w.rng.IntN(8)) }

// key returns a key no other step writes.
func (w *workload) key(what string) string {
	return fmt.Sprintf("%s%s-%d", w.tag, what, w.rng.Uint64())
}

// goOn commits the next drawn writes after a delete the transaction must
// refuse, recording the operation in the model itself: the runner cannot
// issue the refused delete.
func (w *workload) goOn(db *inmem.DB) error {
	next := w.m.Latest() + 1
	v, err := w.commit(db, w.writes(), w.key("refused"))
	if err == nil && v != 0 && v != next {
		return fmt.Errorf("a commit after v%d got v%d", next-1, v)
	}
	return err
}

// commit predicts the outcome of committing ws (after a refused delete of
// the key refused, unless it is empty), commits them and checks the outcome,
// recording the operation in the model. It returns the commit's version.
func (w *workload) commit(db *inmem.DB, ws []crashtest.Write, refused string) (inmem.Version, error) {
	op, want := w.begin(ws)
	v, seqs, err := commit(db, op.Writes, refused)
	return v, w.end(op, want, v, seqs, err)
}

// begin records ws, their CASCurrent writes resolved, as an operation
// issued, and returns it with the failure the model predicts (nil: none).
func (w *workload) begin(ws []crashtest.Write) (*crashtest.Op, error) {
	if w.mu != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	ws, want := w.m.Predict(ws)
	return w.m.Begin(crashtest.Op{Kind: crashtest.OpWrite, Writes: ws}), want
}

// end records what became of op, which must be what the model predicted.
func (w *workload) end(op *crashtest.Op, want error, v inmem.Version, seqs []uint64, err error) error {
	if w.mu != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	switch {
	case want == nil && err == nil:
		w.m.Ack(op, v, seqs)
	case want != nil && sameFailure(err, want) && v == 0:
		w.m.Fail(op, err)
	default:
		return fmt.Errorf("%v: got v%d, %v; the model predicts failure %v", op, v, err, want)
	}
	return nil
}

// sameFailure reports whether err is the failure want the model predicts.
func sameFailure(err, want error) bool {
	var got, pred *inmem.VersionMismatchError
	if errors.As(want, &pred) {
		return errors.As(err, &got) && *got == *pred
	}
	return errors.Is(err, want)
}

// commit commits ws in one transaction, as the runner does; first, unless
// refused is empty, it deletes refused, a key that does not exist.
func commit(db *inmem.DB, ws []crashtest.Write, refused string) (inmem.Version, []uint64, error) {
	var seqs []uint64
	v, err := db.Commit(func(tx *inmem.Tx) error {
		seqs = seqs[:0]
		if refused != "" {
			if err := refuse(tx, ws[0].Run, refused); err != nil {
				return err
			}
		}
		for _, w := range ws {
			seq, err := w.Apply(tx)
			if err != nil {
				return err
			}
			if w.Kind == crashtest.WriteEventAppend {
				seqs = append(seqs, seq)
			}
		}
		return nil
	})
	return v, seqs, err
}

// refuse deletes key, which does not exist, from run in tx: the delete
// must fail with ErrNotFound and leave tx usable.
func refuse(tx *inmem.Tx, run, key string) error {
	id, err := tx.GetOrCreateRun(run)
	if err != nil {
		return err
	}
	if err := tx.KVDelete(id, key); !errors.Is(err, inmem.ErrNotFound) {
		return fmt.Errorf("delete of the missing key %q = %v, want ErrNotFound", key, err)
	}
	return nil
}

// abort runs a transaction that creates a run, writes to it and to run-0,
// and fails: nothing of it may be seen.
func abort(db *inmem.DB, tag, key string) error {
	ghost := tag + "never"
	v, err := db.Commit(func(tx *inmem.Tx) error {
		for _, run := range []string{ghost, "run-0"} {
			id, err := tx.GetOrCreateRun(run)
			if err != nil {
				return err
			}
			if err := tx.KVPut(id, key, []byte("never")); err != nil {
				return err
			}
			if _, err := tx.EventAppend(id, []byte("never")); err != nil {
				return err
			}
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) || v != 0 {
		return fmt.Errorf("aborted transaction: got v%d, %v; want errAbort", v, err)
	}
	if _, err := db.ResolveRun(ghost); !errors.Is(err, inmem.ErrRunNotFound) {
		return fmt.Errorf("the aborted transaction's run: %v, want ErrRunNotFound", err)
	}
	if id, err := db.ResolveRun("run-0"); err == nil {
		if _, err := db.KVGet(id, key); !errors.Is(err, inmem.ErrNotFound) {
			return fmt.Errorf("the aborted transaction's key %q: %v, want ErrNotFound", key, err)
		}
	}
	return nil
}

// list formats mismatches one a line.
func list(ms []crashtest.StateMismatch) string {
	var b strings.Builder
	for i, m := range ms {
		if i == 40 {
			fmt.Fprintf(&b, "… and %d more\n", len(ms)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", m)
	}
	return b.String()
}

// checkModel fails the test unless db holds exactly the state of m's
// acknowledged history.
func checkModel(t tb, db *inmem.DB, m *crashtest.ReferenceModel, what string) {
	t.Helper()
	checkAt(t, db, m, m.Latest(), what)
}

// checkPrefix fails the test unless db holds exactly the state of a prefix
// of m's history: the one ending at its own last version.
func checkPrefix(t tb, db *inmem.DB, m *crashtest.ReferenceModel, what string) {
	t.Helper()
	checkAt(t, db, m, db.LastVersion(), what)
}

// checkAt fails the test unless db holds exactly the state of m's history up
// to version v, and that state is sound: every run, key history, event and
// cell, in both directions (crashtest.ReferenceModel.Compare), and
// timestamps in version order (crashtest.Image.Check).
func checkAt(t tb, db *inmem.DB, m *crashtest.ReferenceModel, v inmem.Version, what string) {
	t.Helper()
	ms := m.Compare(db, crashtest.Promise{Upto: &v})
	if got := db.LastVersion(); got != v {
		ms = append(ms, crashtest.StateMismatch{Entity: "version", Expected: fmt.Sprintf("last version v%d", v), Actual: fmt.Sprintf("v%d", got)})
	}
	ms = append(ms, capture(t, db, m).Check()...)
	if ms != nil {
		t.Fatalf("%s: the database differs from the model at v%d:\n%s", what, v, list(ms))
	}
}

// capture reads db's image, with the history of every key m wrote (m may be
// nil).
func capture(t tb, db *inmem.DB, m *crashtest.ReferenceModel) *crashtest.Image {
	t.Helper()
	img, err := crashtest.Capture(db, m)
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	return img
}

// checkSame fails the test unless got is the image want, timestamps and run
// ids included.
func checkSame(t tb, want, got *crashtest.Image, what string) {
	t.Helper()
	if ms := want.Diff(got); ms != nil {
		t.Fatalf("%s:\n%s", what, list(ms))
	}
}

// runID returns the id of db's run named name.
func runID(t tb, db *inmem.DB, name string) inmem.RunID {
	t.Helper()
	id, err := db.ResolveRun(name)
	if err != nil {
		t.Fatalf("ResolveRun(%q): %v", name, err)
	}
	return id
}

// concurrentWorkload runs writers concurrently while during runs in the
// calling goroutine, and returns the model of what they did. Each writer
// draws from a crashtest.Generator of its own, its keys and cells tagged
// with its name, over runs they all share, so that their events interleave;
// every 4th step appends to the run "shared". Each records its operations
// in the one model, checking the outcomes it predicts, and that its own
// commits get increasing versions.
func concurrentWorkload(t testing.TB, db *inmem.DB, seed uint64, writers, steps int, during func()) *crashtest.ReferenceModel {
	t.Helper()
	m := crashtest.NewReferenceModel()
	if err := crashtest.NewRunner(db, m).Update(crashtest.CreateRun("shared")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		w := newWorkload(seed + uint64(i))
		w.retention, w.tag, w.m, w.mu = true, fmt.Sprintf("w%d/", i), m, &mu
		wg.Go(func() { errs <- w.concurrently(db, steps) })
	}
	during()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// concurrently issues steps operations as one of several writers.
func (w *workload) concurrently(db *inmem.DB, steps int) error {
	var last inmem.Version
	for i := range steps {
		v, err := w.concurrentStep(db, i)
		if err != nil {
			return fmt.Errorf("%s step %d: %w", w.tag, i, err)
		}
		if v != 0 && v <= last {
			return fmt.Errorf("%s step %d committed as v%d, after its commit at v%d", w.tag, i, v, last)
		}
		last = max(last, v)
	}
	return nil
}

func (w *workload) concurrentStep(db *inmem.DB, i int) (inmem.Version, error) {
	switch x := w.rng.IntN(100); {
	case i%4 == 3:
		return w.commit(db, []crashtest.Write{crashtest.Append("shared", crashtest.UniqueValue("shared", w.tag, i, 0))}, "")
	case x < 2:
		return w.commit(db, []crashtest.Write{crashtest.CreateRun(w.probeRun())}, "")
	case x < 5:
		return 0, abort(db, w.tag, w.key("aborted"))
	case x < 8:
		return w.commit(db, w.concurrentWrites(), w.key("refused"))
	}
	return w.commit(db, w.concurrentWrites(), "")
}

// concurrentWrites draws writes whose outcome the model can predict while
// other writers commit: none where a CAS expects a cell the operation
// itself wrote before, whose version the commit's decides.
func (w *workload) concurrentWrites() []crashtest.Write {
	for {
		if ws := w.writes(); !casOnOwnWrite(ws) {
			return ws
		}
	}
}

func casOnOwnWrite(ws []crashtest.Write) bool {
	written := map[[2]string]bool{}
	for _, w := range ws {
		k := [2]string{w.Run, w.Key}
		switch w.Kind {
		case crashtest.WriteStateCAS:
			if written[k] {
				return true
			}
			written[k] = true
		case crashtest.WriteStateSet:
			written[k] = true
		}
	}
	return false
}

// runIDs returns the id of every run of db, by name.
func runIDs(t tb, db *inmem.DB) map[string]inmem.RunID {
	t.Helper()
	runs, err := db.ListRuns()
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	ids := map[string]inmem.RunID{}
	for _, r := range runs {
		ids[r.Name] = r.ID
	}
	return ids
}

// checkRunIDs fails the test unless every run of db has the id want gives
// its name: the model knows the ids of the runs only its runner wrote.
func checkRunIDs(t tb, db *inmem.DB, want map[string]inmem.RunID, what string) {
	t.Helper()
	for name, id := range runIDs(t, db) {
		if id != want[name] {
			t.Fatalf("%s: run %q has id %s, want %s", what, name, id, want[name])
		}
	}
}
