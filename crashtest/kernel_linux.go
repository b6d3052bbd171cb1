package crashtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

func (k *KernelCrashTester) run() (res *ProcessCrashResults, err error) {
	if err := kernelAvailable(); err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(k.cfg.Dir, "inmem-kernel-")
	if err != nil {
		return nil, err
	}
	mnt := filepath.Join(scratch, "mnt")
	m := newExt4Mount(filepath.Join(scratch, "ext4.img"), mnt, k.cfg.MountOptions)
	defer func() {
		derr := m.down()
		if derr == nil {
			derr = os.RemoveAll(scratch)
		}
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("crashtest: cleaning up %s: %w", scratch, derr))
		}
	}()
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	if err := makeImage(m.image, k.cfg.ImageSize); err != nil {
		return nil, err
	}
	if err := m.up(); err != nil {
		return nil, err
	}
	t := NewProcessCrashTester(k.binary, filepath.Join(mnt, "db"), k.cfg.ProcessCrashConfig)
	t.env = crashEnv{crash: PowerLoss, cut: func(p *os.Process) error { return powerCut(p, mnt) }, revive: m.cycle}
	if k.cfg.KillFirst {
		kr := k.cfg.KillRuntime
		if kr <= 0 {
			kr = 200 * time.Millisecond
		}
		t.env.before, t.env.settleOnReady = func(i int) error { return killFirst(t, i, kr) }, true
	}
	k.tester = t
	return t.Run()
}

// killFirst runs a child with its own workload and SIGKILLs it at a random
// moment, without cutting the power: the iteration's child then recovers
// from the kill, and the power is cut under it.
func killFirst(t *ProcessCrashTester, i int, killRuntime time.Duration) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(i)|1<<40))
	cc := ChildConfig{Dir: t.dir, Seed: t.cfg.Seed, Iteration: i + 1<<20, Writers: t.cfg.Writers,
		Durability: t.cfg.Durability, SegmentSize: t.cfg.SegmentSize}
	runFor := killRuntime/4 + time.Duration(rng.Int64N(int64(killRuntime-killRuntime/4)+1))
	cut := t.env.cut
	t.env.cut = nil
	run, err := t.runChild(cc.args(), syscall.SIGKILL, runFor, 0)
	t.env.cut = cut
	if err != nil {
		return fmt.Errorf("the child killed before the power cut: %w", err)
	}
	var r KillIterationResult
	t.record(run, cc, &r)
	if len(r.Mismatches) > 0 {
		return fmt.Errorf("the child killed before the power cut: %v", r.Mismatches)
	}
	return nil
}
