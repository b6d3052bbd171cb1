package main

import (
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newRetentionCmd) }

func newRetentionCmd(g *globals) *cobra.Command {
	return newGroupCmd("retention", "Read and set a run's retention policy (applied by compact --full)",
		newRetentionGetCmd(g), newRetentionSetCmd(g))
}

// retentionJSON is the JSON output of the retention commands.
type retentionJSON struct {
	Run     string        `json:"run"`
	Policy  string        `json:"policy"`
	Version inmem.Version `json:"version,omitempty"`
}

func newRetentionGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get RUN",
		Short: "Print RUN's retention policy",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run := args[0]
			if err := checkRun(run); err != nil {
				return err
			}
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				p, err := db.GetRetentionPolicy(id)
				if err != nil {
					return fmt.Errorf("retention get %q: %w", run, err)
				}
				return g.output(cmd, retentionJSON{Run: run, Policy: p.String()}, func(w io.Writer) error {
					_, err := fmt.Fprintln(w, p)
					return err
				})
			})
		},
	}
}

func newRetentionSetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set RUN POLICY",
		Short: "Set RUN's retention policy: all, last:N or for:DURATION",
		Long: `Set RUN's retention policy, which compact --full applies to its KV history:

  all           keep every version (the default)
  last:N        keep the N newest versions of every key
  for:DURATION  keep the versions committed within DURATION (as 36h, 90m),
                and the newest version of every key however old`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run := args[0]
			if err := checkRun(run); err != nil {
				return err
			}
			p, err := inmem.ParseRetentionPolicy(args[1])
			if err != nil {
				return &usageError{err}
			}
			return g.withDB(openExisting, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				v, err := db.SetRetentionPolicy(id, p)
				if err != nil {
					return fmt.Errorf("retention set %q: %w", run, err)
				}
				return g.output(cmd, retentionJSON{run, p.String(), v}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "retention of run %q set to %s at version %d\n", run, p, v)
					return err
				})
			})
		},
	}
}
