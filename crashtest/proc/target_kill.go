package proc

import (
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/in-mem/inmem/crashtest"

	"github.com/in-mem/inmem"
)

// targetIteration is one iteration of the process tester with a Target: the
// target child puts until it is killed (or the power is cut under it), the
// target checker reads the recovered store, the key/value model judges it.
func (t *ProcessCrashTester) targetIteration(i int) (KillIterationResult, error) {
	if err := t.kv.resolve(t.binary, t.cfg.Args, t.cfg.Env); err != nil {
		return KillIterationResult{}, err
	}
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(i)))
	sig, runFor, maxAcks := t.drawKill(rng)
	tc := TargetChildConfig{Target: t.kv.w.Name, Dir: t.dir, Seed: t.cfg.Seed, Iteration: i, Writers: t.cfg.Writers,
		SyncEvery: t.kv.w.SyncEvery, ValueSize: t.kv.w.ValueSize}
	run, err := t.crashChild(tc.args(), sig, runFor, maxAcks)
	if err != nil {
		return KillIterationResult{}, err
	}
	r := t.newResult(i, run)
	r.Acks = t.kv.record(run, i, t.cfg.Writers)
	c, err := checkTarget(t.binary, t.cfg.Args, t.cfg.Env, t.kv.w.Name, t.dir, t.kv.keys())
	if err != nil {
		return r, err
	}
	r.RecoveryTime = c.duration
	v := t.kv.judge(c, t.env.Crash, nil)
	// For a Target, "versions" count this iteration's puts: acknowledged,
	// and found after recovery.
	r.AckedUpTo, r.Recovered = inmem.Version(r.Acks), inmem.Version(v.kept)
	if r.Promised = r.AckedUpTo; t.env.Crash == crashtest.PowerLoss && !t.kv.w.PowerSafe {
		r.Promised = 0
	}
	r.InFlight, r.AckedKept, r.AckedLost = v.inFlight, v.kept, v.lost
	r.Mismatches, r.Unpromised = v.violations, v.unpromised
	t.kv.settle(c)
	if c.openErr != "" {
		// Start the next iteration on a new store: this one is gone.
		if err := os.RemoveAll(t.dir); err != nil {
			return r, fmt.Errorf("removing the store that did not open: %w", err)
		}
	}
	r.RecoverySucceeded = len(r.Mismatches) == 0
	if t.env.Crash == crashtest.ProcessKill && !diedOfSignal(r.ExitStatus, r.childErr) {
		r.RecoverySucceeded = false
		r.Err = fmt.Errorf("the child did not die of a signal: %s", r.ExitStatus)
	}
	return r, nil
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
	s := fmt.Sprintf("%d unpromised losses (the configuration is not power safe), first: %s", len(r.Unpromised), r.Unpromised[0])
	if r.AckedLost > 0 {
		s += fmt.Sprintf("; %d acknowledged puts lost", r.AckedLost)
	}
	return s
}
