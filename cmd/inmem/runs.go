package main

import (
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newRunsCmd) }

// runJSON is one run in JSON output.
type runJSON struct {
	Name         string        `json:"name"`
	NameEncoding string        `json:"name_encoding,omitempty"` // "base64" for a binary name
	ID           string        `json:"id"`
	Version      inmem.Version `json:"version"`
	Created      string        `json:"created"`
}

func newRunsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "runs",
		Short: "List the runs, by name",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				runs, err := db.ListRuns()
				if err != nil {
					return fmt.Errorf("runs: %w", err)
				}
				out := make([]runJSON, len(runs))
				for i, r := range runs {
					name := encodeKey(r.Name)
					out[i] = runJSON{name.Key, name.Encoding, r.ID.String(), r.Version, formatTime(r.Created)}
				}
				return g.output(cmd, out, func(w io.Writer) error { return printRuns(w, runs) })
			})
		},
	}
}

func printRuns(w io.Writer, runs []inmem.RunInfo) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tID\tCREATED AT VERSION\tCREATED")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", printable([]byte(r.Name)), r.ID, r.Version, formatTime(r.Created))
	}
	return tw.Flush()
}
