package proc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// targetIteration is one iteration of the process tester with a Target: the
// target runs the key/value workload until it is killed (or the power is
// cut under it), a checker recovers the store, the key/value model judges
// it. Iterations accumulate on one store: every iteration's workload opens
// what the last one's checker recovered, so crash, recover, crash again.
func (t *ProcessCrashTester) targetIteration(i int) (KillIterationResult, error) {
	ctx, cancel := stopContext(t.cfg.Stop)
	defer cancel()
	child := crashtest.Child{Binary: t.binary, Args: t.cfg.Args, Env: t.cfg.Env}
	if t.kv.w.Lifecycle.KillFirst {
		if err := t.targetKillFirst(ctx, child, i); err != nil {
			return KillIterationResult{}, err
		}
	}
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(i)))
	sig, runFor, maxAcks := t.drawKill(rng)
	run := newKVRun(t.kv, child, t.dir, t.cfg.Seed^uint64(i+1)*0x9e3779b97f4a7c15, t.cfg.Writers, 0)
	r := KillIterationResult{Iteration: i, Seed: t.cfg.Seed}
	phase, status, err := t.crashTarget(ctx, run, sig, runFor, maxAcks, &r)
	if err != nil {
		return r, err
	}
	r.ExitStatus, r.Acks = status, int(run.acks.Load())
	c := checkStore(ctx, child, t.kv.w, t.dir, t.kv.readKeys())
	c.bad = append(c.bad, run.conn.badLines()...) // the workload's, too
	r.RecoveryTime = c.duration
	v := t.kv.judge(c, t.env.Crash, nil)
	t.book(&r, v, c, phase)
	return r, t.settleTarget(c)
}

// crashTarget runs the workload and crashes it: a kill after runFor (or
// maxAcks acknowledgements), after the power cut if there is one, then
// the filesystem comes back. It returns the lifecycle phase the crash
// came in and how the process ended.
func (t *ProcessCrashTester) crashTarget(ctx context.Context, run *kvRun, sig syscall.Signal, runFor time.Duration, maxAcks int, r *KillIterationResult) (string, string, error) {
	first := "recover"
	if !t.kv.established {
		first = "create"
	}
	if err := run.start(ctx, first); err != nil {
		return "", "", fmt.Errorf("starting the workload: %w", err)
	}
	killed := make(chan struct{}, 1)
	run.onAck = func(n int64) {
		if maxAcks > 0 && n == int64(maxAcks) {
			killed <- struct{}{}
		}
	}
	ready := time.Now()
	done := make(chan struct{})
	go func() { run.work(ctx); close(done) }()
	select {
	case <-time.After(runFor):
	case <-killed:
	case <-done:
	}
	r.KillTime, r.Signal = time.Since(ready), sig.String()
	phase := run.currentPhase()
	run.stopped.Store(true)
	var cutErr error
	if t.env.Cut != nil {
		cutErr = t.env.Cut(run.conn.cmd.Process)
		r.Signal = "power cut, then " + r.Signal
	}
	status := run.conn.kill(sig)
	<-done
	if cutErr != nil {
		return "", "", fmt.Errorf("cutting the power: %w", cutErr)
	}
	if err := errors.Join(run.errs...); err != nil {
		return "", "", err
	}
	if t.env.Revive != nil {
		if err := t.env.Revive(); err != nil {
			return "", "", fmt.Errorf("bringing the filesystem back after the crash: %w", err)
		}
	}
	r.childErr = strings.TrimSpace(run.conn.stderr.String())
	return phase, status, nil
}

// targetKillFirst runs the workload in a process SIGKILLed after a random
// time, without the power cut: the iteration's own workload then opens the
// store recovering from that kill.
func (t *ProcessCrashTester) targetKillFirst(ctx context.Context, child crashtest.Child, i int) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(i)|1<<40))
	kr := max(t.cfg.KillFirst, 200*time.Millisecond)
	runFor := kr/4 + time.Duration(rng.Int64N(int64(kr-kr/4)+1))
	run := newKVRun(t.kv, child, t.dir, t.cfg.Seed^uint64(i+1)<<20, t.cfg.Writers, 0)
	cut := t.env.Cut
	t.env.Cut = nil
	defer func() { t.env.Cut = cut }()
	var r KillIterationResult
	_, _, err := t.crashTarget(ctx, run, syscall.SIGKILL, runFor, 0, &r)
	if err != nil {
		return fmt.Errorf("the workload killed before the crash: %w", err)
	}
	t.kv.established = true
	return nil
}

// book fills the iteration's result from the verdict.
func (t *ProcessCrashTester) book(r *KillIterationResult, v kvVerdict, c *checkResult, phase string) {
	// For a Target, "versions" count this iteration's writes: acknowledged,
	// and found after recovery.
	r.AckedUpTo, r.Recovered = inmem.Version(v.acked), inmem.Version(v.kept)
	if r.Promised = r.AckedUpTo; !t.kv.promises(t.env.Crash) {
		r.Promised = 0
	}
	r.InFlight, r.AckedKept, r.AckedLost = v.inFlight, v.kept, v.lost
	r.Mismatches = v.mismatches()
	r.Unpromised = issuesOf(v.unpromised)
	r.Notices = issuesOf(v.notices)
	r.Classes, r.Phase, r.Interrupted = v.classes(), phase, v.interrupted
	r.RecoverySucceeded = len(r.Mismatches) == 0 && !v.interrupted
	if t.env.Crash == crashtest.ProcessKill && !diedOfSignal(r.ExitStatus, r.childErr) {
		r.RecoverySucceeded = false
		r.Err = fmt.Errorf("the target did not die of a signal: %s", r.ExitStatus)
	}
	if c.openErr != "" {
		r.Err = errors.New(c.openErr)
	}
}

// settleTarget makes the recovered store the base of the next iteration;
// a store that did not open is replaced by a new one.
func (t *ProcessCrashTester) settleTarget(c *checkResult) error {
	if c.interrupted {
		return nil
	}
	if c.openErr == "" && c.hung == "" {
		t.kv.settle(c)
		return nil
	}
	t.kv.reset()
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("removing the store that did not open: %w", err)
	}
	return nil
}

func issuesOf(is []kvIssue) []crashtest.StateMismatch {
	var out []crashtest.StateMismatch
	for _, x := range is {
		out = append(out, x.StateMismatch)
	}
	return out
}

// UnpromisedLosses sums, over the iterations, the losses the configuration
// never promised to prevent (an unsafe Target under a power loss).
func (r *ProcessCrashResults) UnpromisedLosses() int {
	n := 0
	for _, it := range r.Results {
		n += len(it.Unpromised)
	}
	return n
}

// unpromisedText summarizes an iteration's unpromised losses for reports.
func (r KillIterationResult) unpromisedText() string {
	if len(r.Unpromised) == 0 {
		return ""
	}
	s := fmt.Sprintf("%d unpromised losses (the configuration does not promise this), first: %s", len(r.Unpromised), r.Unpromised[0])
	if r.AckedLost > 0 {
		s += fmt.Sprintf("; %d acknowledged writes lost", r.AckedLost)
	}
	return s
}
