package main

import (
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newCheckpointCmd) }

// checkpointJSON is a checkpoint in JSON output.
type checkpointJSON struct {
	SnapshotID   uint64        `json:"snapshot_id"`
	Watermark    inmem.Version `json:"watermark"`
	File         string        `json:"file"`
	Bytes        int64         `json:"bytes"`
	LogicalBytes uint64        `json:"logical_bytes"`
	Runs         uint64        `json:"runs"`
	Keys         uint64        `json:"keys"`
	Versions     uint64        `json:"versions"`
	Events       uint64        `json:"events"`
	Cells        uint64        `json:"cells"`
	DurationMS   float64       `json:"duration_ms"`
}

func newCheckpointJSON(c inmem.CheckpointInfo) checkpointJSON {
	return checkpointJSON{c.SnapshotID, c.Watermark, c.File, c.Bytes, c.Logical, c.Runs, c.Keys, c.Versions,
		c.Events, c.Cells, float64(c.Duration.Microseconds()) / 1000}
}

func newCheckpointCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Write a snapshot so recovery replays only newer log records",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withDB(openExisting, func(db *inmem.DB) error {
				info, err := db.Checkpoint()
				if err != nil {
					return fmt.Errorf("checkpoint: %w", err)
				}
				c := newCheckpointJSON(info)
				return g.output(cmd, c, func(w io.Writer) error { return printCheckpoint(w, c) })
			})
		},
	}
}

func printCheckpoint(w io.Writer, c checkpointJSON) error {
	_, err := fmt.Fprintf(w, "snapshot %d at watermark %d: %s (%d bytes, %d bytes of data)\n"+
		"  %d runs, %d keys, %d versions, %d events, %d cells, in %.1f ms\n",
		c.SnapshotID, c.Watermark, c.File, c.Bytes, c.LogicalBytes, c.Runs, c.Keys, c.Versions, c.Events, c.Cells, c.DurationMS)
	return err
}
