package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
)

// targetFlags choose what the kernel commands crash: in-mem's own workload,
// in-mem as a generic key/value Target (this binary serves it), or an
// engine the crashtargets module's child binary serves.
type targetFlags struct {
	name, binary string
	syncEvery    int
}

func (f *targetFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.name, "target", "inmem", "what to crash: inmem (its own workload and reference model), inmem-buffered (as a key/value target), "+
		"or, with --target-binary, a configuration of that binary (bbolt, bbolt-nosync, sqlite, sqlite-off)")
	fl.StringVar(&f.binary, "target-binary", "", "the target child for other engines; build it with: go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget")
	fl.IntVar(&f.syncEvery, "sync-every", 0, "with a key/value target: every writer syncs after this many puts (0: never)")
}

// options resolves the flags: a binary to serve the target, or this one.
func (f *targetFlags) options() (crashtest.TargetOptions, error) {
	o := crashtest.TargetOptions{Name: f.name, Binary: f.binary, SyncEvery: f.syncEvery}
	if f.binary != "" {
		if _, err := os.Stat(f.binary); err != nil {
			return o, usagef("--target-binary: %v", err)
		}
		return o, nil
	}
	for _, t := range crashtest.InmemTargets() {
		if t.Name == f.name && f.name != "inmem" {
			// This binary serves in-mem's key/value targets itself.
			o.Args, o.Env = []string{"crash", "target-child"}, []string{crashtest.TargetChildEnv + "=1"}
			return o, nil
		}
	}
	if f.name != "inmem" {
		return o, usagef("--target %s needs --target-binary: build it with go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget", f.name)
	}
	return o, nil
}

// errInterrupted says a kernel campaign stopped early on a signal.
var errInterrupted = errors.New("interrupted: the campaign is incomplete (everything it mounted is unmounted and detached)")

// interruptible returns a channel closed at the first SIGINT or SIGTERM:
// the kernel campaigns then stop after the current crash and clean up every
// mount and loop device. A second signal kills as usual. release undoes it.
func interruptible(errOut io.Writer) (stop <-chan struct{}, release func()) {
	ch, done := make(chan struct{}), make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
			signal.Stop(sigs)
			fmt.Fprintln(errOut, "interrupted: finishing the current crash, then unmounting and detaching (interrupt again to kill)")
			close(ch)
		case <-done:
		}
	}()
	return ch, func() { signal.Stop(sigs); close(done) }
}

// runInterruptible runs a kernel campaign that stops early on a signal.
func runInterruptible(cmd *cobra.Command, f *campaignFlags, cfg crashtest.CampaignConfig, stop <-chan struct{}) error {
	err := runCampaign(cmd, f, cfg)
	select {
	case <-stop:
		return errors.Join(err, errInterrupted)
	default:
		return err
	}
}

func newCrashKernelCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	tf := &targetFlags{}
	var mountOpts []string
	var minRun, maxRun time.Duration
	var writers int
	var killFirst bool
	c := &cobra.Command{
		Use:   "kernel",
		Short: "Cut the power under a workload child through the real kernel: ext4 on a loop device, EXT4_IOC_SHUTDOWN (needs root)",
		Long: `kernel puts the database on a small ext4 on a loop device and runs the
workload child on it. At a random moment it freezes the child, cuts the power
the way xfstests does (EXT4_IOC_SHUTDOWN with NOLOGFLUSH: whatever has not
reached the device is lost), SIGKILLs it, unmounts, detaches, attaches again
and mounts (the journal replays), recovers and judges: strict keeps every
acknowledged commit; buffered a prefix holding every commit acknowledged
before the last completed sync. Each --mount-opts is a column of its own
(default data=ordered and data=writeback). With --kill-first every power cut
comes right after a child recovered from a SIGKILL: what that recovery
served must survive, Buffered or not (use a short --max-runtime).

--target crashes another engine through the same harness, judged by a
key/value model: every acknowledged put of a power-safe configuration must
survive; an unsafe one's losses are reported, not violations. bbolt and
SQLite live in the crashtargets module; build its child binary first:

  go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget
  inmem crash kernel --target bbolt-nosync --target-binary /tmp/crashtarget

It needs root, loop devices and mkfs.ext4, and says which is missing.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioKernel)
			if err != nil {
				return err
			}
			if cfg.Kernel.Target, err = tf.options(); err != nil {
				return err
			}
			if maxRun < minRun {
				return usagef("--max-runtime is below --min-runtime")
			}
			if err := crashtest.KernelAvailable(); err != nil {
				return err
			}
			for _, o := range mountOpts {
				cfg.Kernel.MountOptions = append(cfg.Kernel.MountOptions, strings.TrimSpace(o))
			}
			cfg.Kernel.MinRuntime, cfg.Kernel.MaxRuntime, cfg.Kernel.Writers = minRun, maxRun, writers
			cfg.Kernel.KillFirst = killFirst
			cfg.Dir = g.dir
			stop, release := interruptible(cmd.ErrOrStderr())
			defer release()
			cfg.Kernel.Stop = stop
			return runInterruptible(cmd, f, cfg, stop)
		},
	}
	f.add(c, 30*time.Second, false)
	tf.add(c)
	fl := c.Flags()
	fl.StringArrayVar(&mountOpts, "mount-opts", []string{"data=ordered", "data=writeback"}, "ext4 mount options, one column each (repeat the flag)")
	fl.DurationVar(&minRun, "min-runtime", 50*time.Millisecond, "shortest run of a child before the power cut")
	fl.DurationVar(&maxRun, "max-runtime", 400*time.Millisecond, "longest run of a child before the power cut")
	fl.IntVar(&writers, "writers", 4, "concurrent writers in the child")
	fl.BoolVar(&killFirst, "kill-first", false, "SIGKILL a first child, then cut the power under the child that recovered from it (in-mem only)")
	return c
}
