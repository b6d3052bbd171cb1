package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

func newCrashPowerLossCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	var policies, policy string
	var states, at int
	var everyOp bool
	c := &cobra.Command{
		Use:   "powerloss",
		Short: "Explore every crash state of seeded workloads: every sync point, every crash policy",
		Long: `powerloss records the filesystem operations of a seeded workload, then for
every sync point (--every-op: every operation) builds the crash states a
power loss can leave (drop: only synced data; keep: a process crash; random:
seeded subsets of the unsynced writes and directory changes, torn at
512-byte sectors), recovers each and judges it against the reference model
as it stood at that moment. --at and --policy rerun one state.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioPowerLoss)
			if err != nil {
				return err
			}
			for _, p := range strings.Split(policies, ",") {
				m, err := vfs.ParseCrashMode(strings.TrimSpace(p))
				if err != nil {
					return usagef("%v", err)
				}
				cfg.PowerLoss.Policies = append(cfg.PowerLoss.Policies, m)
			}
			cfg.PowerLoss.RandomStates, cfg.PowerLoss.EveryOperation = states, everyOp
			if cmd.Flags().Changed("at") {
				cfg.PowerLoss.At = &at
			}
			if policy != "" {
				p, err := parsePolicy(policy)
				if err != nil {
					return err
				}
				cfg.PowerLoss.Policy = &p
			}
			cfg.Dir = g.dir
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, 30*time.Second, false)
	fl := c.Flags()
	fl.StringVar(&policies, "policies", "drop,keep,random", "crash policies: drop, keep, random")
	fl.IntVar(&states, "states", 4, "random states per crash point")
	fl.BoolVar(&everyOp, "every-op", false, "crash after every filesystem operation, not only around syncs")
	fl.IntVar(&at, "at", 0, "only the crash after this many filesystem operations (to reproduce one state)")
	fl.StringVar(&policy, "policy", "", "with --at: only this policy: drop, keep or random:SEED")
	return c
}

func parsePolicy(s string) (vfs.CrashPolicy, error) {
	mode, seed, hasSeed := strings.Cut(s, ":")
	m, err := vfs.ParseCrashMode(mode)
	if err != nil {
		return vfs.CrashPolicy{}, usagef("--policy %q: %v", s, err)
	}
	p := vfs.CrashPolicy{Mode: m}
	if hasSeed {
		if p.Seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
			return p, usagef("--policy %q: bad seed", s)
		}
	} else if m == vfs.RandomUnsynced {
		return p, usagef("--policy random needs a seed: random:SEED")
	}
	return p, nil
}
