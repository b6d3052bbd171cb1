package proc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/in-mem/inmem/crashtest"

	"github.com/in-mem/inmem"
)

// ProcessCrashConfig configures a ProcessCrashTester.
type ProcessCrashConfig struct {
	// MinRuntime and MaxRuntime bound how long a child runs (after it
	// opened the database) before it is killed.
	MinRuntime, MaxRuntime time.Duration
	// MaxAcks, if positive, kills the child after a random number of
	// acknowledgements in [1, MaxAcks] instead (or at MaxRuntime, whichever
	// comes first).
	MaxAcks    int
	Iterations int
	// Signals to kill with; each iteration picks one. Default SIGKILL.
	Signals []syscall.Signal
	// CrashPoints, if set, make each iteration a whitebox kill: the child
	// SIGKILLs itself at a random hit (1..MaxHit) of one of them. If it does
	// not reach it by MaxRuntime, the parent kills it with a signal.
	CrashPoints []crashtest.CrashPoint
	MaxHit      uint64
	// WhiteboxRatio is the chance an iteration is a whitebox kill when
	// CrashPoints is set (default 1: every iteration).
	WhiteboxRatio float64
	// Deadline, if set, ends the run early once passed.
	Deadline time.Time
	Seed     uint64
	// Durability the child runs in.
	Durability inmem.Durability
	// Expect is the promise the recovered state is judged by; default
	// Durability. Running an InMemory child and expecting Strict proves the
	// tester detects loss.
	Expect      *inmem.Durability
	Writers     int   // default 4
	SegmentSize int64 // default 64 KiB, so segments rotate
	// Args precede the child's flags on the command line (for the inmem
	// CLI: "crash", "child"); Env is added to the child's environment (for a
	// test binary: ChildEnv=1).
	Args []string
	Env  []string
	// Progress, if set, is called after every iteration.
	Progress func(KillIterationResult)
	// Stop, if set, ends the run after the current iteration once closed
	// (an interrupted campaign still cleans up).
	Stop <-chan struct{}
	// Target, if set, runs a Target's key/value workload instead of in-mem's:
	// Binary is then a target child (TargetMain) and the key/value model
	// judges. CrashPoints do not apply.
	Target *TargetWorkload
	// KillFirst, if positive, starts every in-mem iteration with a child
	// SIGKILLed after a random time in [KillFirst/4, KillFirst], without
	// Hooks.Cut; the iteration's child then recovers from that kill and is
	// crashed as usual. Whatever that recovery served (in Buffered mode
	// too, synced or not before the kill) must survive the second crash,
	// because recovery makes replayed data durable before serving it.
	KillFirst time.Duration
	// ReopenEvery makes in-mem's child close the database cleanly and open
	// it again after every n operations (see Lifecycle; a Target's
	// lifecycle is Target.Lifecycle).
	ReopenEvery int
	// Hooks change how the crash happens (a power cut before the kill).
	Hooks Hooks
}

// ProcessCrashTester kills real child processes running a workload and
// verifies every recovery. Iterations continue on the same directory, so
// state and damage accumulate across many consecutive crashes.
type ProcessCrashTester struct {
	binary string
	dir    string
	cfg    ProcessCrashConfig
	model  *crashtest.ReferenceModel
	kv     *kvModel // with cfg.Target
	env    env
}

// NewProcessCrashTester returns a tester that runs binary (the inmem CLI or
// a test binary, see ProcessCrashConfig.Args and Env) on the database in dir.
func NewProcessCrashTester(binary, dir string, cfg ProcessCrashConfig) *ProcessCrashTester {
	if cfg.MaxRuntime <= 0 {
		cfg.MinRuntime, cfg.MaxRuntime = 10*time.Millisecond, time.Second
	}
	cfg.MinRuntime = min(cfg.MinRuntime, cfg.MaxRuntime)
	if cfg.Iterations <= 0 {
		cfg.Iterations = 100
	}
	if len(cfg.Signals) == 0 {
		cfg.Signals = []syscall.Signal{syscall.SIGKILL}
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 4
	}
	if cfg.SegmentSize <= 0 {
		cfg.SegmentSize = 64 << 10
	}
	if cfg.MaxHit == 0 {
		cfg.MaxHit = 20
	}
	if cfg.WhiteboxRatio == 0 {
		cfg.WhiteboxRatio = 1
	}
	t := &ProcessCrashTester{binary: binary, dir: dir, cfg: cfg, model: crashtest.NewReferenceModel(), env: env{Hooks: cfg.Hooks}}
	t.model.AllowUnseenCompactions() // a crash can cut off a compaction's acknowledgement
	t.env.settleOnReady = cfg.KillFirst > 0
	if cfg.Target != nil {
		t.kv = newKVModel(*cfg.Target, cfg.Seed)
	}
	return t
}

// PowerSafe reports, for a Target, whether its configuration promises that
// an acknowledged put survives a power loss (known once Run has started);
// in-mem's own workload is judged by its durability mode instead.
func (t *ProcessCrashTester) PowerSafe() bool { return t.kv != nil && t.kv.w.Caps.PowerSafe }

// Model returns the reference model, holding the history of every iteration.
func (t *ProcessCrashTester) Model() *crashtest.ReferenceModel { return t.model }

// ProcessCrashResults aggregates the iterations.
type ProcessCrashResults struct {
	Iterations           int
	SuccessfulRecoveries int // recoveries that opened and matched the model
	FailedRecoveries     int
	AckedVerified        int // acknowledged operations found after recovery
	AckedLost            int // acknowledged operations missing (must be 0 in Strict and Buffered)
	Results              []KillIterationResult
	Duration             time.Duration
}

// AllPassed reports whether every recovery matched the model.
func (r *ProcessCrashResults) AllPassed() bool { return r.FailedRecoveries == 0 }

// FailureRate is the fraction of iterations whose recovery failed.
func (r *ProcessCrashResults) FailureRate() float64 {
	if r.Iterations == 0 {
		return 0
	}
	return float64(r.FailedRecoveries) / float64(r.Iterations)
}

// KillIterationResult is one kill and its recovery.
type KillIterationResult struct {
	Iteration  int
	KillTime   time.Duration // from the child's ready line to the kill
	Signal     string        // what killed it
	CrashPoint string        // the whitebox point that fired, if any
	ExitStatus string
	Acks       int           // acknowledgements received
	AckedUpTo  inmem.Version // the highest acknowledged version
	Promised   inmem.Version // the highest version the promise required
	Recovered  inmem.Version // the recovered last version (the prefix)
	InFlight   int
	AckedKept  int
	AckedLost  int
	// RecoverySucceeded: the database opened and matched the model.
	RecoverySucceeded bool
	Err               error
	Mismatches        []crashtest.StateMismatch
	RecoveryTime      time.Duration
	Seed              uint64 // the tester's seed: the same seed reruns the same iterations
	childErr          string

	// Unpromised are losses the configuration never promised to prevent (an
	// unsafe Target under a power loss): reported, not violations.
	Unpromised []crashtest.StateMismatch
	// Notices are findings that break no promise (a Target that did not
	// open after a crash during its creation, nothing acknowledged).
	Notices []crashtest.StateMismatch
	// Classes are the classes of what the iteration found (a Target's).
	Classes []crashtest.Class
	// Phase is the lifecycle phase the crash came in (a Target's: create,
	// write, close, reopen, recover).
	Phase string
	// Interrupted: the campaign stopped while the recovery was judged; the
	// iteration is neither passed nor a violation.
	Interrupted bool
}

func (r KillIterationResult) String() string {
	s := fmt.Sprintf("iteration %d: %s after %v", r.Iteration, r.Signal, r.KillTime.Round(time.Millisecond))
	if r.CrashPoint != "" {
		s += " at " + r.CrashPoint
	}
	s += fmt.Sprintf(", %d acks up to v%d, recovered v%d", r.Acks, r.AckedUpTo, r.Recovered)
	if len(r.Unpromised) > 0 {
		s += ": " + r.unpromisedText()
	}
	for _, n := range r.Notices {
		s += "\n  notice (" + string(crashtest.ClassCreation) + "): " + n.String()
	}
	if r.Interrupted {
		s += ": interrupted (not judged)"
	}
	if !r.RecoverySucceeded {
		s += fmt.Sprintf(": FAILED (%v, %d mismatches)", r.Err, len(r.Mismatches))
		for i, m := range r.Mismatches {
			if i == 5 {
				break
			}
			s += "\n  " + m.String()
		}
		if r.childErr != "" {
			s += "\n  child stderr: " + r.childErr
		}
		s += fmt.Sprintf("\n  seed %d, iteration %d", r.Seed, r.Iteration)
	}
	return s
}

// Run runs every iteration.
func (t *ProcessCrashTester) Run() (*ProcessCrashResults, error) {
	start := time.Now()
	res := &ProcessCrashResults{}
	for i := 0; i < t.cfg.Iterations; i++ {
		if !t.cfg.Deadline.IsZero() && time.Now().After(t.cfg.Deadline) && i > 0 || stopped(t.cfg.Stop) {
			break
		}
		r, err := t.iteration(i)
		if err != nil {
			return res, fmt.Errorf("crashtest: iteration %d: %w", i, err)
		}
		res.Iterations++
		res.AckedVerified += r.AckedKept
		res.AckedLost += r.AckedLost
		switch {
		case r.Interrupted: // neither
		case r.RecoverySucceeded:
			res.SuccessfulRecoveries++
		default:
			res.FailedRecoveries++
		}
		res.Results = append(res.Results, r)
		if t.cfg.Progress != nil {
			t.cfg.Progress(r)
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// childRun is what one child did before it died.
type childRun struct {
	ready    time.Time
	killedAt time.Time
	signal   string
	status   string
	point    string
	stderr   string
	lines    []ackLine
	at       []uint64 // env.clock as each line arrived
	badLines []error
	cutErr   error
}

func (t *ProcessCrashTester) iteration(i int) (KillIterationResult, error) {
	if t.cfg.Target != nil {
		return t.targetIteration(i)
	}
	if t.cfg.KillFirst > 0 {
		if err := t.killFirst(i); err != nil {
			return KillIterationResult{}, err
		}
	}
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(i)))
	cc := ChildConfig{Dir: t.dir, Seed: t.cfg.Seed, Iteration: i, Writers: t.cfg.Writers,
		Durability: t.cfg.Durability, SegmentSize: t.cfg.SegmentSize, ReopenEvery: t.cfg.ReopenEvery}
	if len(t.cfg.CrashPoints) > 0 && rng.Float64() < t.cfg.WhiteboxRatio {
		cc.CrashPoint = t.cfg.CrashPoints[rng.IntN(len(t.cfg.CrashPoints))].String()
		cc.CrashHit = 1 + rng.Uint64N(t.cfg.MaxHit)
	}
	sig, runFor, maxAcks := t.drawKill(rng)
	run, err := t.crashChild(cc.args(), sig, runFor, maxAcks)
	if err != nil {
		return KillIterationResult{}, err
	}
	r := t.newResult(i, run)
	t.record(run, cc, &r)
	t.verify(&r)
	return r, nil
}

// drawKill draws the iteration's signal, run time and acknowledgement limit.
func (t *ProcessCrashTester) drawKill(rng *rand.Rand) (syscall.Signal, time.Duration, int) {
	sig := t.cfg.Signals[rng.IntN(len(t.cfg.Signals))]
	runFor := t.cfg.MinRuntime + time.Duration(rng.Int64N(int64(t.cfg.MaxRuntime-t.cfg.MinRuntime)+1))
	maxAcks := 0
	if t.cfg.MaxAcks > 0 {
		maxAcks = 1 + rng.IntN(t.cfg.MaxAcks)
	}
	return sig, runFor, maxAcks
}

// crashChild runs the child to its crash and, for a power cut, brings the
// filesystem back (Hooks.Revive) before anything is recovered.
func (t *ProcessCrashTester) crashChild(args []string, sig syscall.Signal, runFor time.Duration, maxAcks int) (*childRun, error) {
	run, err := t.runChild(args, sig, runFor, maxAcks)
	if err != nil {
		return nil, err
	}
	if run.cutErr != nil {
		return nil, fmt.Errorf("cutting the power: %w", run.cutErr)
	}
	if t.env.Revive != nil {
		if err := t.env.Revive(); err != nil {
			return nil, fmt.Errorf("bringing the filesystem back after the crash: %w", err)
		}
	}
	return run, nil
}

func (t *ProcessCrashTester) newResult(i int, run *childRun) KillIterationResult {
	r := KillIterationResult{Iteration: i, Signal: run.signal, CrashPoint: run.point, ExitStatus: run.status, childErr: run.stderr,
		Seed: t.cfg.Seed}
	if !run.ready.IsZero() && !run.killedAt.IsZero() {
		r.KillTime = run.killedAt.Sub(run.ready)
	}
	return r
}

// runChild starts the child, kills it as configured and collects every
// acknowledgement line it wrote before dying.
func (t *ProcessCrashTester) runChild(args []string, sig syscall.Signal, runFor time.Duration, maxAcks int) (*childRun, error) {
	pr, pw, err := t.ackPipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(t.binary, append(append([]string{}, t.cfg.Args...), args...)...)
	cmd.Env = append(os.Environ(), t.cfg.Env...)
	cmd.ExtraFiles = []*os.File{pw}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close() // the child holds the write end now; EOF comes when it dies
	lines, errs := make(chan ackLine, 1024), make(chan error, 16)
	go readAcks(pr, lines, errs)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	run := &childRun{}
	run.collect(lines, errs, exited, cmd, sig, runFor, maxAcks, &t.env)
	pr.Close()
	run.stderr = strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(run.stderr, '\n'); i >= 0 && (strings.HasPrefix(run.stderr, "SIGABRT") || strings.HasPrefix(run.stderr, "SIGSEGV")) {
		run.stderr = run.stderr[:i] // the goroutine dump of a signalled Go process
	}
	if len(run.stderr) > 2000 {
		run.stderr = run.stderr[:2000] + "…"
	}
	return run, nil
}

// collect reads acknowledgements until it is time to kill, kills, reaps the
// child and drains the pipe.
func (run *childRun) collect(lines <-chan ackLine, errs <-chan error, exited <-chan error, cmd *exec.Cmd, sig syscall.Signal, runFor time.Duration, maxAcks int, env *env) {
	deadline := time.NewTimer(runFor + 30*time.Second) // until ready; reset when ready
	defer deadline.Stop()
	acks, done := 0, false
	kill := func() {
		if run.killedAt.IsZero() {
			run.killedAt = time.Now()
			run.signal = sig.String()
			if env.Cut != nil {
				run.cutErr = env.Cut(cmd.Process)
				run.signal = "power cut, then " + run.signal
			}
			cmd.Process.Signal(sig)
		}
	}
	var exitErr error
	for lines != nil || !done {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			run.lines = append(run.lines, l)
			if env.clock != nil {
				run.at = append(run.at, env.clock())
			}
			switch l.kind {
			case 'R':
				run.ready = time.Now()
				deadline.Reset(runFor)
			case 'A':
				if acks++; maxAcks > 0 && acks >= maxAcks {
					kill()
				}
			case 'K':
				run.point, run.signal = l.text, "SIGKILL (whitebox)"
				run.killedAt = time.Now()
			}
		case e := <-errs:
			run.badLines = append(run.badLines, e)
		case <-deadline.C:
			kill()
		case exitErr = <-exited:
			done = true
			exited = nil
		}
	}
	run.status = exitStatus(exitErr)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		if ee.ExitCode() == 2 {
			return "exit 2"
		}
		return fmt.Sprintf("exit %d", ee.ExitCode())
	}
	return err.Error()
}

// record feeds the child's acknowledgements into the model, regenerating
// each operation's writes from the seed.
func (t *ProcessCrashTester) record(run *childRun, cc ChildConfig, r *KillIterationResult) {
	cfg := crashtest.WorkloadConfig{Seed: iterationSeed(cc.Seed, cc.Iteration)}
	gens := map[int]*crashtest.Generator{}
	steps := map[[2]int]crashtest.Step{}
	ops := map[[2]int]*crashtest.Op{}
	step := func(w, k int) crashtest.Step {
		g := gens[w]
		if g == nil {
			g = crashtest.NewGenerator(cfg, uint64(w), "")
			gens[w] = g
		}
		for g.Count() < k {
			steps[[2]int{w, g.Count() + 1}] = g.Next()
		}
		return steps[[2]int{w, k}]
	}
	syncs := newSyncTracker(t.model.Latest())
	r.AckedUpTo = max(r.AckedUpTo, t.model.Latest()) // what earlier iterations acknowledged stays acknowledged
	for _, l := range run.lines {
		if l.kind == 'R' && t.env.settleOnReady {
			t.settleAtReady(l.version, r)
		}
		if l.kind == 'L' {
			t.lifecycleLine(l, r)
		}
		if l.kind == 'R' || l.kind == 'K' || l.kind == 'L' {
			continue
		}
		key := [2]int{l.writer, l.op}
		op := ops[key]
		if op == nil {
			s := step(l.writer, l.op)
			op = t.model.Begin(crashtest.Op{Writer: l.writer, Kind: s.Kind, Writes: s.Writes, Mode: s.Mode})
			ops[key] = op
		}
		switch l.kind {
		case 'I':
			t.model.Intent(op, l.version)
		case 'A':
			r.Acks++
			t.model.Ack(op, l.version, l.seqs)
			r.AckedUpTo = max(r.AckedUpTo, l.version)
		case 'F':
			t.model.Fail(op, nil)
		case 'E':
			op.Err = l.text // outcome unknown: stays in flight
		}
		if v, ok := syncs.observe(l, op.Kind == crashtest.OpFlush || op.Kind == crashtest.OpCheckpoint); ok {
			t.model.SyncedUpTo(v)
		}
	}
	for _, e := range run.badLines {
		r.Mismatches = append(r.Mismatches, crashtest.StateMismatch{Entity: "acknowledgement pipe", Expected: "well-formed lines", Actual: e.Error()})
	}
}

// verify opens the database the child left, judges it and probes that the
// next commit follows.
func (t *ProcessCrashTester) verify(r *KillIterationResult) {
	expect := t.cfg.Durability
	if t.cfg.Expect != nil {
		expect = *t.cfg.Expect
	}
	openDurability := expect
	if openDurability == inmem.InMemory {
		openDurability = inmem.Strict
	}
	start := time.Now()
	db, err := inmem.Open(t.dir, &inmem.Options{Durability: openDurability, SegmentSize: t.cfg.SegmentSize})
	r.RecoveryTime = time.Since(start)
	if err != nil {
		r.Err = fmt.Errorf("recovery: %w", err)
		return
	}
	defer db.Close()
	v := t.model.Judge(db, crashtest.Promise{Durability: expect, Crash: t.env.Crash})
	r.Recovered, r.Promised, r.InFlight, r.AckedKept, r.AckedLost = v.Recovered, v.Required, v.InFlight, v.AckedKept, v.AckedLost
	r.Mismatches = append(r.Mismatches, v.Mismatches...)
	t.model.Settle(db.LastVersion())
	probe := crashtest.NewRunner(db, t.model)
	key := fmt.Sprintf("after-kill-%d", r.Iteration)
	if err := probe.KVPut("crashtest-probe", key, crashtest.UniqueValue("crashtest-probe", key, r.Iteration, 16)); err != nil {
		r.Mismatches = append(r.Mismatches, crashtest.StateMismatch{Entity: "probe", Expected: "a write after recovery to succeed", Actual: err.Error()})
	}
	r.Mismatches = append(r.Mismatches, probe.Mismatches()...)
	r.RecoverySucceeded = len(r.Mismatches) == 0
	if t.env.Crash == crashtest.ProcessKill && !diedOfSignal(r.ExitStatus, r.childErr) {
		r.RecoverySucceeded = false
		r.Err = fmt.Errorf("the child did not die of a signal: %s", r.ExitStatus)
	}
}

// diedOfSignal reports whether the child died of the signal it was sent.
// The Go runtime handles SIGABRT and an external SIGSEGV itself: it stops
// the world, prints every goroutine and exits with status 2.
func diedOfSignal(status, stderr string) bool {
	if strings.HasPrefix(status, "killed by") {
		return true
	}
	return status == "exit 2" && (strings.HasPrefix(stderr, "SIGABRT") || strings.HasPrefix(stderr, "SIGSEGV"))
}

// settleAtReady takes a child's recovered version (its R line) as the new
// base of the model. The child recovered from a process kill, which loses
// nothing acknowledged: a recovered version below the last acknowledgement
// is a broken promise.
func (t *ProcessCrashTester) settleAtReady(v inmem.Version, r *KillIterationResult) {
	if acked := t.model.Latest(); v < acked {
		r.Mismatches = append(r.Mismatches, crashtest.StateMismatch{Entity: "recovery after the kill",
			Expected: fmt.Sprintf("every version up to v%d (acknowledged before the kill)", acked),
			Actual:   fmt.Sprintf("the next child recovered up to v%d", v)})
		return
	}
	t.model.Settle(v)
}

// killFirst runs a child with its own workload and SIGKILLs it at a random
// moment, without Hooks.Cut: the iteration's child then recovers from the
// kill, and is crashed under it.
func (t *ProcessCrashTester) killFirst(i int) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(i)|1<<40))
	cc := ChildConfig{Dir: t.dir, Seed: t.cfg.Seed, Iteration: i + 1<<20, Writers: t.cfg.Writers,
		Durability: t.cfg.Durability, SegmentSize: t.cfg.SegmentSize}
	kr := t.cfg.KillFirst
	runFor := kr/4 + time.Duration(rng.Int64N(int64(kr-kr/4)+1))
	cut := t.env.Cut
	t.env.Cut = nil
	run, err := t.runChild(cc.args(), syscall.SIGKILL, runFor, 0)
	t.env.Cut = cut
	if err != nil {
		return fmt.Errorf("the child killed before the crash: %w", err)
	}
	var r KillIterationResult
	t.record(run, cc, &r)
	if len(r.Mismatches) > 0 {
		return fmt.Errorf("the child killed before the crash: %v", r.Mismatches)
	}
	return nil
}

// lifecycleLine books a clean close (a durability point: everything up to
// its version is synced) or the open after it (which must lose nothing).
func (t *ProcessCrashTester) lifecycleLine(l ackLine, r *KillIterationResult) {
	switch l.text {
	case "closing":
		return
	case "close":
		t.model.SyncedUpTo(l.version)
		return
	}
	if acked := t.model.Latest(); l.version < acked {
		r.Mismatches = append(r.Mismatches, crashtest.StateMismatch{Entity: "reopen after a clean close",
			Expected: fmt.Sprintf("every version up to v%d (acknowledged before the close)", acked),
			Actual:   fmt.Sprintf("the database reopened at v%d", l.version)})
	}
}
