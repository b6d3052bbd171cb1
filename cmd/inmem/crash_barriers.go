package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
)

func newCrashBarriersCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	tf := &targetFlags{}
	var mountOpts []string
	var writers, states, maxStates int
	var state, keep string
	c := &cobra.Command{
		Use:   "barriers",
		Short: "Record every write and flush ext4 sends to the device, then judge every crash state a disk can be left in (needs root and FUSE)",
		Long: `barriers runs a seeded workload (--ops per writer) on ext4 over a loop device
whose image our own FUSE filesystem serves, logging every write and every
flush barrier the kernel sends down (as dm-log-writes does). It then builds
the crash states a real disk can be left in (as CrashMonkey does): the
writes up to each barrier, and seeded subsets of the 4 KiB blocks written
between two barriers. Each is mounted on a fresh loop device over a copy of
the image (the journal replays), recovered and judged against everything
acknowledged before its last barrier. It reports the states explored and
the time per state; --state reruns one.

--target and --target-binary crash another engine, as with inmem crash
kernel. It needs root, loop devices, FUSE and mkfs.ext4.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioBarriers)
			if err != nil {
				return err
			}
			if cfg.Barriers.Target, err = tf.options(); err != nil {
				return err
			}
			if err := crashtest.BarriersAvailable(); err != nil {
				return err
			}
			for _, o := range mountOpts {
				cfg.Barriers.MountOptions = append(cfg.Barriers.MountOptions, strings.TrimSpace(o))
			}
			cfg.Barriers.Writers, cfg.Barriers.RandomStates, cfg.Barriers.MaxStates, cfg.Barriers.State = writers, states, maxStates, state
			cfg.Barriers.KeepDir = keep
			if state != "" && cfg.Iterations == 0 {
				cfg.Iterations = 1
			}
			cfg.Dir = g.dir
			stop, release := interruptible(cmd.ErrOrStderr())
			defer release()
			cfg.Barriers.Stop = stop
			return runInterruptible(cmd, f, cfg, stop)
		},
	}
	f.add(c, 30*time.Second, false)
	tf.add(c)
	fl := c.Flags()
	fl.Lookup("ops").Usage = "operations per writer (barriers), per workload (powerloss, ioerrors)"
	fl.StringArrayVar(&mountOpts, "mount-opts", []string{"data=ordered"}, "ext4 mount options, one column each (repeat the flag)")
	fl.IntVar(&writers, "writers", 1, "concurrent writers in the child (1: the seed fixes the operations)")
	fl.IntVar(&states, "states", 2, "seeded subsets of the blocks between two barriers, per barrier (-1: none)")
	fl.IntVar(&maxStates, "max-states", 0, "judge a seeded sample of at most this many states per workload (0: all)")
	fl.StringVar(&state, "state", "", "judge only this crash state (b12, b12+r1, end) to reproduce it")
	fl.StringVar(&keep, "keep", "", "save the image of every crash state that breaks a promise in this directory, to mount and inspect")
	return c
}
