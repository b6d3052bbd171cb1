package main

import (
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newExportCmd) }

// exportJSON is the JSON output of export.
type exportJSON struct {
	Dir        string        `json:"dir"`
	Watermark  inmem.Version `json:"watermark"`
	SnapshotID uint64        `json:"snapshot_id"`
	Files      []string      `json:"files"`
	Bytes      int64         `json:"bytes"`
	DurationMS float64       `json:"duration_ms"`
}

func newExportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "export DEST",
		Short: "Write a complete, self-contained copy of the database into DEST",
		Long: `Take a checkpoint and write a copy of the database as of it into DEST, which
must not exist or be empty: a MANIFEST, the snapshot, an empty log segment
and an EXPORT marker, written last, listing every file with its checksum.
The copy holds exactly the commits up to the watermark printed.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest := args[0]
			return g.withDB(openExisting, func(db *inmem.DB) error {
				info, err := db.Export(dest)
				if err != nil {
					return fmt.Errorf("export to %s: %w", dest, err)
				}
				out := exportJSON{info.Dir, info.Watermark, info.SnapshotID, append([]string{}, info.Files...), info.Bytes,
					float64(info.Duration.Microseconds()) / 1000}
				return g.output(cmd, out, func(w io.Writer) error { return printExport(w, out) })
			})
		},
	}
}

func printExport(w io.Writer, e exportJSON) error {
	fmt.Fprintf(w, "exported to %s at watermark %d (snapshot %d): %d files, %d bytes in %.1f ms\n",
		e.Dir, e.Watermark, e.SnapshotID, len(e.Files), e.Bytes, e.DurationMS)
	for _, f := range e.Files {
		if _, err := fmt.Fprintf(w, "  %s\n", f); err != nil {
			return err
		}
	}
	return nil
}
