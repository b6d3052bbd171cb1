package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
)

func newCrashMatrixCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	var points, kinds []string
	var runs int
	c := &cobra.Command{
		Use:   "matrix",
		Short: "Crash at every crash point × {kill, power loss drop, power loss random} × durability",
		Long: `matrix crashes at every crash point of the engine under a real SIGKILL of a
child process, a power loss that drops unsynced data and a power loss that
keeps a random torn subset of it, in strict and buffered mode. Each cell has
its expected result (see crashtest.RunMatrix) and checks it on top of the
reference model's judgement. --point and --type narrow it to one cell.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioMatrix)
			if err != nil {
				return err
			}
			for _, p := range points {
				cp, err := crashtest.ParseCrashPoint(p)
				if err != nil {
					return usagef("%v", err)
				}
				cfg.Matrix.Points = append(cfg.Matrix.Points, cp)
			}
			for _, k := range kinds {
				if !validKind(k) {
					return usagef("--type %q: want kill, powerloss-drop or powerloss-random", k)
				}
				cfg.Matrix.Kinds = append(cfg.Matrix.Kinds, crashtest.MatrixKind(k))
			}
			cfg.Matrix.Runs, cfg.Dir = runs, g.dir
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, time.Minute, false)
	c.Flags().StringSliceVar(&points, "point", nil, "only these crash points (e.g. AfterFsync)")
	c.Flags().StringSliceVar(&kinds, "type", nil, "only these crash types: kill, powerloss-drop, powerloss-random")
	c.Flags().IntVar(&runs, "runs", 2, "crashes per cell")
	return c
}

func validKind(k string) bool {
	for _, m := range crashtest.MatrixKinds() {
		if string(m) == k {
			return true
		}
	}
	return false
}
