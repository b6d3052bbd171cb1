package proc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// TargetWorkload is the key/value workload a tester runs on a Target: which
// configuration, what the writers do, and what the checker may take.
type TargetWorkload struct {
	// Name is the target configuration, as the target executable knows it.
	Name string
	// Caps are what the configuration promises; the testers fill them in
	// from the executable's hello reply.
	Caps crashtest.Caps
	// Mix is the share of each operation (default DefaultMix).
	Mix Mix
	// SyncEvery makes every writer sync after every n writes as well (0:
	// only as Mix says).
	SyncEvery int
	// ValueSize is the smallest value (default 100 bytes); values are drawn
	// up to MaxValueSize if it is larger.
	ValueSize, MaxValueSize int
	// Lifecycle: clean reopen cycles, and a kill before the judged crash.
	Lifecycle Lifecycle
	// CheckTimeout bounds the checker's recovery of one crash (default 2
	// minutes): a recovery that does not finish in time is a hang.
	CheckTimeout time.Duration
}

func (w TargetWorkload) checkTimeout() time.Duration {
	if w.CheckTimeout <= 0 {
		return 2 * time.Minute
	}
	return w.CheckTimeout
}

// Mix is the share, in parts, of each operation a Target writer issues:
// puts (a new key, or an overwrite of one of its own), deletes of its own
// keys, atomic batches of 2 to 5 of those, and syncs.
type Mix struct{ Put, Delete, Batch, Sync int }

// DefaultMix is the mix of a TargetWorkload that sets none.
var DefaultMix = Mix{Put: 70, Delete: 10, Batch: 15, Sync: 5}

// String returns the text form ParseMix reads: "put=70,delete=10,batch=15,sync=5".
func (m Mix) String() string {
	return fmt.Sprintf("put=%d,delete=%d,batch=%d,sync=%d", m.Put, m.Delete, m.Batch, m.Sync)
}

// ParseMix reads a mix; parts left out are 0, and at least one write must
// have a share.
func ParseMix(s string) (Mix, error) {
	var m Mix
	fields := map[string]*int{"put": &m.Put, "delete": &m.Delete, "batch": &m.Batch, "sync": &m.Sync}
	for _, part := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		p, ok := fields[name]
		n, err := strconv.Atoi(value)
		if !ok || err != nil || n < 0 || n > 1000 {
			return Mix{}, fmt.Errorf("mix %q: want put=N,delete=N,batch=N,sync=N with N from 0 to 1000", s)
		}
		*p = n
	}
	if m.Put+m.Delete+m.Batch == 0 {
		return Mix{}, fmt.Errorf("mix %q: want a share of puts, deletes or batches", s)
	}
	return m, nil
}

func (m Mix) orDefault() Mix {
	if m == (Mix{}) {
		return DefaultMix
	}
	return m
}

// kvRun is one run of the workload on a store: one target process after
// another (a kill-first, reopens in a new process), its writers, and the
// lifecycle phase it is in.
type kvRun struct {
	m       *kvModel
	w       TargetWorkload
	child   crashtest.Child
	dir     string
	seed    uint64
	writers int
	ops     int // per writer; 0: until stopped
	ackPipe func() (r, w *os.File, err error)
	clock   func() uint64 // stamps replies (nil: none)
	now     func() uint64 // the clock now, for phase marks (nil: none)

	conn    *targetConn
	cycler  *Cycler
	done    map[int]int // ops done per writer
	acks    atomic.Int64
	onAck   func(n int64)
	stopped atomic.Bool
	mu      sync.Mutex
	phase   string
	marks   []phaseMark
	errs    []error // the harness's own failures
	sizes   [2]int  // smallest and largest value
}

// phaseMark is a lifecycle phase and the clock when it began.
type phaseMark struct {
	at    uint64
	phase string
}

func newKVRun(m *kvModel, child crashtest.Child, dir string, seed uint64, writers, ops int) *kvRun {
	return &kvRun{m: m, w: m.w, child: child, dir: dir, seed: seed, writers: max(writers, 1), ops: ops, done: map[int]int{}}
}

// setPhase marks the start of a lifecycle phase.
func (r *kvRun) setPhase(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = p
	var at uint64
	if r.now != nil {
		at = r.now()
	}
	r.marks = append(r.marks, phaseMark{at: at, phase: p})
}

func (r *kvRun) currentPhase() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phase
}

// start starts a target process and opens the store in it; first names
// the phase the open is in (create, recover, reopen).
func (r *kvRun) start(ctx context.Context, first string) error {
	r.setPhase(first)
	conn, err := startTarget(r.child, r.ackPipe, r.clock)
	if err != nil {
		return err
	}
	r.conn = conn
	info, err := conn.hello(ctx, r.w.Name)
	if err != nil {
		conn.kill(os.Kill)
		return err
	}
	r.m.w.Caps, r.w.Caps = info.Caps(), info.Caps()
	return r.open(ctx)
}

// open opens the store in the running process.
func (r *kvRun) open(ctx context.Context) error {
	rep, err := r.conn.call(ctx, Request{Op: opOpen, Target: r.w.Name, Dir: r.dir})
	if err == nil {
		err = rep.err()
	}
	if err != nil {
		return fmt.Errorf("opening %s in %s: %w%s", r.w.Name, r.dir, err, r.conn.stderrText())
	}
	if r.currentPhase() == "create" {
		if err := syncCreated(r.dir); err != nil {
			return fmt.Errorf("syncing the new store's directory %s: %w", r.dir, err)
		}
	}
	r.setPhase("write")
	return nil
}

// syncCreated makes a new store's place durable once it first opened,
// before anything is written: its directory (the entries of the files the
// store created) and the directory above it (the store directory's own
// entry). It is what an application that creates a store does once; the
// store's creation is the application's to make durable, every create,
// rename and remove after it the engine's. A crash before it is judged as
// a crash during creation (crashtest.ClassCreation).
func syncCreated(dir string) error {
	for _, d := range []string{dir, filepath.Dir(dir)} {
		f, err := os.Open(d)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// work runs the writers until each has done r.ops operations, or the
// process is gone (killed), or stop.
func (r *kvRun) work(ctx context.Context) {
	r.cycler = NewCycler(r.w.Lifecycle.ReopenEvery, func() error { return r.reopen(ctx) })
	var wg sync.WaitGroup
	for w := 1; w <= r.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.writer(ctx, w)
		}()
	}
	wg.Wait()
}

// writer runs writer w's operations.
func (r *kvRun) writer(ctx context.Context, w int) {
	r.mu.Lock()
	rng := rand.New(rand.NewPCG(r.seed, uint64(w)<<32|uint64(r.done[w])))
	r.mu.Unlock()
	for {
		r.mu.Lock()
		k := r.done[w] + 1
		r.mu.Unlock()
		if (r.ops > 0 && k > r.ops) || r.stopped.Load() || ctx.Err() != nil {
			return
		}
		err := r.cycler.Op(func() error { return r.step(ctx, rng, w, k) })
		r.mu.Lock()
		r.done[w] = k
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// step issues operation k of writer w and waits for its reply.
func (r *kvRun) step(ctx context.Context, rng *rand.Rand, w, k int) error {
	kind, specs := r.next(rng, w, k)
	op := r.m.issue(kind, w, specs)
	rep, err := r.conn.call(ctx, request(op))
	if err == nil {
		err = rep.err()
	}
	if err != nil {
		return err // in flight: its outcome is unknown; the writer stops
	}
	r.m.ack(op, rep.at)
	if n := r.acks.Add(1); r.onAck != nil {
		r.onAck(n)
	}
	return nil
}

// next draws operation k of writer w.
func (r *kvRun) next(rng *rand.Rand, w, k int) (string, []kvWriteSpec) {
	mix := r.w.Mix.orDefault()
	if r.w.SyncEvery > 0 && k%(r.w.SyncEvery+1) == 0 {
		return opSync, nil
	}
	roll := rng.IntN(mix.Put + mix.Delete + mix.Batch + mix.Sync)
	switch {
	case roll < mix.Put:
		return opPut, []kvWriteSpec{r.spec(rng, w, rng.IntN(10) < 3, false)}
	case roll < mix.Put+mix.Delete:
		s := r.spec(rng, w, true, true)
		if !s.delete { // the writer has no key yet: a put of a new one
			return opPut, []kvWriteSpec{s}
		}
		return opDelete, []kvWriteSpec{s}
	case roll < mix.Put+mix.Delete+mix.Batch:
		return opBatch, r.batch(rng, w)
	}
	return opSync, nil
}

// spec draws one write: to an existing key of w's (old) or a new one.
func (r *kvRun) spec(rng *rand.Rand, w int, old, del bool) kvWriteSpec {
	s := kvWriteSpec{delete: del, size: r.valueSize(rng)}
	if keys := r.m.writerKeys(w); old && len(keys) > 0 {
		s.key = keys[rng.IntN(len(keys))]
		return s
	}
	s.key, s.delete = r.m.newKey(w), false
	return s
}

// batch draws 2 to 5 writes to distinct keys: new keys, overwrites,
// deletes.
func (r *kvRun) batch(rng *rand.Rand, w int) []kvWriteSpec {
	var out []kvWriteSpec
	seen := map[string]bool{}
	for n := 2 + rng.IntN(4); len(out) < n; {
		roll := rng.IntN(4)
		s := r.spec(rng, w, roll > 1, roll == 3)
		if !seen[s.key] {
			seen[s.key] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *kvRun) valueSize(rng *rand.Rand) int {
	lo := r.w.ValueSize
	if lo <= 0 {
		lo = 100
	}
	n := lo
	if hi := r.w.MaxValueSize; hi > lo {
		n = lo + rng.IntN(hi-lo+1)
	}
	r.mu.Lock()
	if r.sizes[0] == 0 || n < r.sizes[0] {
		r.sizes[0] = n
	}
	r.sizes[1] = max(r.sizes[1], n)
	r.mu.Unlock()
	return n
}

// request spells op as a protocol request.
func request(op *kvOp) Request {
	if op.kind == opSync {
		return Request{Op: opSync}
	}
	if op.kind != opBatch {
		w := op.writes[0]
		return Request{Op: op.kind, Key: w.key.name, Value: hex.EncodeToString(w.value)}
	}
	req := Request{Op: opBatch}
	for _, w := range op.writes {
		b := BatchRequest{Op: opPut, Key: w.key.name, Value: hex.EncodeToString(w.value)}
		if w.value == nil {
			b.Op = opDelete
		}
		req.Ops = append(req.Ops, b)
	}
	return req
}

// reopen is a clean close and reopen cycle: in the process, or in a new
// one if the target cannot reopen itself.
func (r *kvRun) reopen(ctx context.Context) error {
	r.setPhase("close")
	rep, err := r.conn.call(ctx, Request{Op: opClose})
	if err == nil {
		err = rep.err()
	}
	if err != nil {
		return r.fail(fmt.Errorf("a clean close: %w", err))
	}
	r.setPhase("reopen")
	if r.w.Caps.Reopen {
		err = r.open(ctx)
	} else {
		r.conn.end(10 * time.Second)
		err = r.start(ctx, "reopen")
	}
	if err != nil {
		return r.fail(fmt.Errorf("reopening after a clean close: %w", err))
	}
	return nil
}

// fail records a failure of the workload that is not a crash's doing,
// unless the run was stopped (a kill makes every request fail).
func (r *kvRun) fail(err error) error {
	if r.stopped.Load() || errors.Is(err, ErrTargetDied) {
		return err
	}
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return err
}

// finish closes the store and ends the process.
func (r *kvRun) finish(ctx context.Context) error {
	r.setPhase("close")
	rep, err := r.conn.call(ctx, Request{Op: opClose})
	if err == nil {
		err = rep.err()
	}
	status := r.conn.end(30 * time.Second)
	r.setPhase("end")
	if err != nil {
		return fmt.Errorf("closing %s at the end of the workload: %w (%s)%s", r.w.Name, err, status, r.conn.stderrText())
	}
	return nil
}

// coverage returns what the run's crashes can have touched so far.
func (r *kvRun) coverage() *crashtest.Coverage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &crashtest.Coverage{ValueSizes: r.sizes}
}

// phaseAt returns the lifecycle phase the clock value at fell in.
func (r *kvRun) phaseAt(at uint64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := "create"
	for _, m := range r.marks {
		if m.at > at {
			break
		}
		p = m.phase
	}
	return p
}
