package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newStateCmd) }

func newStateCmd(g *globals) *cobra.Command {
	return newGroupCmd("state", "Read and write a run's state cells",
		newStateSetCmd(g), newStateGetCmd(g), newStateCASCmd(g))
}

// stateWrite is the JSON output of state set and state cas.
type stateWrite struct {
	Run     string        `json:"run"`
	Cell    string        `json:"cell"`
	Version inmem.Version `json:"version"`
}

// setCell commits one cell write, creating the run if needed. cas, if set,
// makes it a compare-and-swap against that version.
func setCell(db *inmem.DB, run, cell, value string, cas *inmem.Version) (inmem.Version, error) {
	return db.Commit(func(tx *inmem.Tx) error {
		id, err := tx.GetOrCreateRun(run)
		if err != nil {
			return err
		}
		if cas != nil {
			return tx.StateCAS(id, cell, *cas, []byte(value))
		}
		return tx.StateSet(id, cell, []byte(value))
	})
}

func printStateWrite(g *globals, cmd *cobra.Command, run, cell string, v inmem.Version) error {
	return g.output(cmd, stateWrite{run, cell, v}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "set cell %q of run %q at version %d\n", cell, run, v)
		return err
	})
}

func newStateSetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set RUN CELL VALUE",
		Short: "Set state cell CELL of RUN (creating the database and the run if needed)",
		Args:  exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, cell, value := args[0], args[1], args[2]
			if err := checkCell(run, cell); err != nil {
				return err
			}
			return g.withDB(openOrCreate, func(db *inmem.DB) error {
				v, err := setCell(db, run, cell, value, nil)
				if err != nil {
					return fmt.Errorf("state set %q %q: %w", run, cell, err)
				}
				return printStateWrite(g, cmd, run, cell, v)
			})
		},
	}
}

func newStateCASCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cas RUN CELL EXPECTED VALUE",
		Short: "Set CELL to VALUE only if its version is EXPECTED (0: only if it does not exist)",
		Args:  exactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, cell, value := args[0], args[1], args[3]
			if err := checkCell(run, cell); err != nil {
				return err
			}
			n, err := strconv.ParseUint(args[2], 10, 64)
			if err != nil {
				return usagef("EXPECTED %q is not a version number", args[2])
			}
			expected := inmem.Version(n)
			return g.withDB(openOrCreate, func(db *inmem.DB) error {
				v, err := setCell(db, run, cell, value, &expected)
				if err != nil {
					return fmt.Errorf("state cas %q %q: %w", run, cell, err)
				}
				return printStateWrite(g, cmd, run, cell, v)
			})
		},
	}
}

func newStateGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get RUN CELL",
		Short: "Print the value of state cell CELL (--json adds its version)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, cell := args[0], args[1]
			if err := checkCell(run, cell); err != nil {
				return err
			}
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				v, err := db.StateGet(id, cell)
				if err != nil {
					return fmt.Errorf("state get %q %q: %w", run, cell, err)
				}
				return g.output(cmd, newKVVersion(v), func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s\n", v.Value)
					return err
				})
			})
		},
	}
}
