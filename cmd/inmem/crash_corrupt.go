package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
)

func newCrashCorruptCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	c := &cobra.Command{
		Use:   "corrupt",
		Short: "Damage seeded databases (torn tails, bit rot, missing segments, bad MANIFEST or snapshot) and judge recovery",
		Long: `corrupt builds a database from a seeded workload, damages it one of ten ways
and checks the outcome the damage calls for: a torn tail opens with a prefix
of the history and takes new writes; damage to durable data is refused with
an error naming the file (and offset) and changes nothing on disk;
point-in-time recovery opens a prefix. No outcome may show a value no commit
wrote.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioCorrupt)
			if err != nil {
				return err
			}
			cfg.Dir = g.dir
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, 30*time.Second, false)
	return c
}
