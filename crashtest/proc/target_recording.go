package proc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"

	"github.com/in-mem/inmem/crashtest"
)

// recordTarget runs a Target's workload to its end (its lifecycle
// included) and returns the recording that judges its crash states with
// the key/value model: a power-safe configuration must hold every write
// acknowledged by the state's clock.
func recordTarget(cfg RecordConfig) (*Recording, error) {
	stop, cancelStop := stopContext(cfg.Stop)
	defer cancelStop()
	ctx, cancel := context.WithTimeout(stop, cfg.Limit)
	defer cancel()
	m := newKVModel(*cfg.Target, cfg.Seed)
	run := newKVRun(m, cfg.Child, cfg.Dir, cfg.Seed, cfg.Writers, cfg.Ops)
	run.ackPipe, run.clock, run.now = cfg.AckPipe, cfg.Clock, cfg.Now
	if err := runRecorded(ctx, run, cfg); err != nil {
		return nil, err
	}
	rec := &Recording{acked: m.acked(), phase: run.phaseAt, coverage: run.coverage()}
	rec.required = func(n uint64) string { return targetRequired(m, n) }
	rec.judge = func(dir string, n uint64) StateVerdict {
		ctx, cancel := stopContext(cfg.Stop)
		defer cancel()
		c := checkStore(ctx, cfg.Child, m.w, dir, m.readKeys())
		v := m.judge(c, crashtest.PowerLoss, &n)
		lost := 0
		if len(v.unpromised) > 0 {
			lost = v.lost
		}
		return StateVerdict{Acked: v.kept, Mismatches: v.mismatches(), Unpromised: len(v.unpromised) > 0, UnpromisedLost: lost,
			Classes: v.classes(), Notices: issuesOf(v.notices), Interrupted: v.interrupted}
	}
	return rec, nil
}

// runRecorded runs the workload: created, written (reopened as the
// lifecycle says), with KillFirst killed once in the middle and recovered
// by a new process, and closed at the end.
func runRecorded(ctx context.Context, run *kvRun, cfg RecordConfig) error {
	if err := run.start(ctx, "create"); err != nil {
		return fmt.Errorf("crashtest: starting the recorded workload: %w", err)
	}
	if cfg.Target.Lifecycle.KillFirst {
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x6b696c6c))
		at := 1 + rng.Int64N(int64(max(cfg.Ops*run.writers/2, 1)))
		run.onAck = func(n int64) {
			if n == at {
				run.stopped.Store(true)
				go run.conn.kill(syscall.SIGKILL)
			}
		}
		run.work(ctx)
		run.conn.kill(syscall.SIGKILL)
		run.stopped.Store(false)
		run.onAck = nil
		if err := run.start(ctx, "recover"); err != nil {
			return fmt.Errorf("crashtest: recovering from the kill in the recorded workload: %w", err)
		}
	}
	run.work(ctx)
	if bad := run.conn.badLines(); len(bad) > 0 {
		return fmt.Errorf("crashtest: the recorded target broke the target protocol: %w", errors.Join(bad...))
	}
	if err := errors.Join(run.errs...); err != nil {
		return fmt.Errorf("crashtest: the recorded workload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("crashtest: the recorded workload did not finish: %w", err)
	}
	return run.finish(ctx)
}

// targetRequired says what a crash state at clock n must hold.
func targetRequired(m *kvModel, n uint64) string {
	if !m.w.Caps.PowerSafe {
		return fmt.Sprintf("%s is not power safe: nothing is promised", m.w.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := 0
	for _, op := range m.ops {
		if op.status == crashtest.Acked && op.kind != opSync && op.stamp <= n {
			c++
		}
	}
	return fmt.Sprintf("%s: the %d writes acknowledged before the state's last barrier", m.w.Name, c)
}
