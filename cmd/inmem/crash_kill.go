package main

import (
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
)

func newCrashKillCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	var signal, point string
	var minRun, maxRun time.Duration
	var writers int
	c := &cobra.Command{
		Use:   "kill",
		Short: "Kill a workload child with real signals, again and again on one directory, and judge every recovery",
		Long: `kill runs a child process with concurrent writers over every primitive,
transactions, checkpoints and compactions; after a random time it kills it
(SIGKILL by default) or, with --crash-point, the child SIGKILLs itself at a
random hit of that point. The parent then recovers the database, rebuilds the
reference model from the seed and the child's acknowledgements, and judges:
every acknowledged operation present, nothing else, versions exact.
Iterations continue on the same directory (--dir, or a temporary one).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioKill)
			if err != nil {
				return err
			}
			sigs := map[string][]syscall.Signal{
				"kill": {syscall.SIGKILL}, "abrt": {syscall.SIGABRT}, "segv": {syscall.SIGSEGV},
				"mix": {syscall.SIGKILL, syscall.SIGABRT, syscall.SIGSEGV},
			}
			s, ok := sigs[signal]
			if !ok {
				return usagef("--signal %q: want kill, abrt, segv or mix", signal)
			}
			cfg.Kill = crashtest.KillOptions{Signals: s, MinRuntime: minRun, MaxRuntime: maxRun, Writers: writers, Dir: g.dir, WhiteboxRatio: -1}
			switch point {
			case "":
			case "random":
				cfg.Kill.WhiteboxRatio = 1
			default:
				p, err := crashtest.ParseCrashPoint(point)
				if err != nil {
					return usagef("%v", err)
				}
				cfg.Kill.CrashPoints, cfg.Kill.WhiteboxRatio = []crashtest.CrashPoint{p}, 1
			}
			if maxRun < minRun {
				return usagef("--max-runtime is below --min-runtime")
			}
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, 30*time.Second, false)
	fl := c.Flags()
	fl.StringVar(&signal, "signal", "kill", "kill, abrt, segv or mix")
	fl.StringVar(&point, "crash-point", "", "whitebox: the child SIGKILLs itself at a random hit of this crash point (or \"random\")")
	fl.DurationVar(&minRun, "min-runtime", 50*time.Millisecond, "shortest run of a child before it is killed")
	fl.DurationVar(&maxRun, "max-runtime", 200*time.Millisecond, "longest run of a child before it is killed")
	fl.IntVar(&writers, "writers", 4, "concurrent writers in the child")
	return c
}
