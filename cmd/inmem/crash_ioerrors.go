package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs/errorfs"
)

func newCrashIOErrorsCmd(g *globals) *cobra.Command {
	f := &campaignFlags{}
	var errs string
	var at int
	c := &cobra.Command{
		Use:   "ioerrors",
		Short: "Fail every filesystem operation of seeded workloads in turn with EIO, ENOSPC, a short write or a failed fsync",
		Long: `ioerrors runs a seeded workload once per filesystem operation that changes the
disk (commit writes and syncs, segment rotation, checkpoint, MANIFEST update,
compaction), failing that operation. The engine must return the error,
acknowledge nothing that failed, refuse every write after a failed fsync
while still serving reads, and hold every acknowledged commit after a
process crash or a power loss. --at and --error rerun one case.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(crashtest.ScenarioIOErrors)
			if err != nil {
				return err
			}
			for _, e := range strings.Split(errs, ",") {
				e = strings.TrimSpace(e)
				if _, ok := errorfs.ErrorNamed(e); !ok {
					return usagef("--error %q: want eio, enospc, short or fsync", e)
				}
				cfg.IOErrors.Errors = append(cfg.IOErrors.Errors, e)
			}
			if cmd.Flags().Changed("at") {
				cfg.IOErrors.At = &at
			}
			cfg.Dir = g.dir
			return runCampaign(cmd, f, cfg)
		},
	}
	f.add(c, 30*time.Second, false)
	c.Flags().StringVar(&errs, "error", "eio,enospc,short,fsync", "errors to inject")
	c.Flags().IntVar(&at, "at", 0, "only the operation with this index (to reproduce one case)")
	return c
}
