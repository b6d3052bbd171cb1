package main

import (
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newCompactCmd) }

func newCompactCmd(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Remove log segments and snapshots recovery no longer needs",
		Long: `Remove the log segments the current snapshot covers, older snapshots and
stale temp files. With --full, first apply every run's retention policy and
take a checkpoint, so the trimmed versions stay trimmed.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode := inmem.CompactWALOnly
			if full {
				mode = inmem.CompactFull
			}
			return g.withDB(openExisting, func(db *inmem.DB) error {
				info, err := db.Compact(mode)
				if err != nil {
					return fmt.Errorf("compact: %w", err)
				}
				out := newCompactJSON(mode, info)
				return g.output(cmd, out, func(w io.Writer) error { return printCompact(w, out) })
			})
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "also apply retention policies and checkpoint")
	return cmd
}

// compactJSON is the JSON output of compact.
type compactJSON struct {
	Mode             string          `json:"mode"`
	ReclaimedBytes   int64           `json:"reclaimed_bytes"`
	SegmentsRemoved  int             `json:"segments_removed"`
	SnapshotsRemoved int             `json:"snapshots_removed"`
	VersionsRemoved  int             `json:"versions_removed"`
	Checkpoint       *checkpointJSON `json:"checkpoint,omitempty"`
	DurationMS       float64         `json:"duration_ms"`
}

func newCompactJSON(mode inmem.CompactMode, info inmem.CompactInfo) compactJSON {
	out := compactJSON{Mode: mode.String(), ReclaimedBytes: info.ReclaimedBytes, SegmentsRemoved: info.SegmentsRemoved,
		SnapshotsRemoved: info.SnapshotsRemoved, VersionsRemoved: info.VersionsRemoved,
		DurationMS: float64(info.Duration.Microseconds()) / 1000}
	if info.Checkpoint != nil {
		c := newCheckpointJSON(*info.Checkpoint)
		out.Checkpoint = &c
	}
	return out
}

func printCompact(w io.Writer, c compactJSON) error {
	if c.Mode == inmem.CompactFull.String() {
		fmt.Fprintf(w, "removed %d old versions by retention\n", c.VersionsRemoved)
	}
	if c.Checkpoint != nil {
		if err := printCheckpoint(w, *c.Checkpoint); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "reclaimed %d bytes: %d segments and %d snapshots removed (%s, %.1f ms)\n",
		c.ReclaimedBytes, c.SegmentsRemoved, c.SnapshotsRemoved, c.Mode, c.DurationMS)
	return err
}
