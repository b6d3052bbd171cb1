package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newInspectCmd) }

func newInspectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [DIR]",
		Short: "Describe a database's files without changing anything",
		Long: `Describe the database in DIR as it is on disk: the MANIFEST, the snapshot
files, every WAL segment (size, records, first and last txn id), the last
txn id, how the log ends (clean, torn, corrupt) and how many bytes compact
would reclaim.

inspect only reads: it takes no lock and does not recover, so it works on a
damaged database and on one another process has open. It exits with 0
whenever it could read the files, damage or not; use verify to check a
database. With --encryption-key-file it also checks the snapshots' blocks.`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.dirArg(args)
			if err != nil {
				return err
			}
			opts, err := g.options()
			if err != nil {
				return err
			}
			r, err := inmem.Inspect(dir, opts)
			if err != nil {
				return err
			}
			out := struct {
				*inmem.InspectReport
				Corruption *corruptionJSON `json:"corruption"`
			}{r, newCorruptionJSON(r.Corruption)}
			return g.output(cmd, out, func(w io.Writer) error { return printInspect(w, r) })
		},
	}
}

// corruptionJSON is a *inmem.CorruptionError in JSON output.
type corruptionJSON struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"` // -1 if not known
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func newCorruptionJSON(ce *inmem.CorruptionError) *corruptionJSON {
	if ce == nil {
		return nil
	}
	return &corruptionJSON{File: ce.File, Offset: ce.Offset, Reason: ce.Reason, Error: ce.Error()}
}

func printInspect(w io.Writer, r *inmem.InspectReport) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "database\t%s\n", r.Dir)
	printManifest(tw, r)
	if err := tw.Flush(); err != nil {
		return err
	}
	printSnapshots(w, r)
	printSegments(w, r)
	if len(r.TempFiles) > 0 {
		fmt.Fprintln(w, "\ntemp files (reclaimable):")
		tw = newTable(w)
		for _, t := range r.TempFiles {
			fmt.Fprintf(tw, "  %s\t%d bytes\n", t.Path, t.Size)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintf(tw, "last txn\t%d\n", r.LastTxn)
	fmt.Fprintf(tw, "tail\t%s\n", r.Tail)
	fmt.Fprintf(tw, "reclaimable\t%d bytes\n", r.Reclaimable)
	if r.Corruption != nil {
		fmt.Fprintf(tw, "damage\t%v (Open refuses the database)\n", r.Corruption)
	} else {
		fmt.Fprintf(tw, "damage\tnone found\n")
	}
	return tw.Flush()
}

func printManifest(tw io.Writer, r *inmem.InspectReport) {
	m := r.Manifest
	if m == nil {
		fmt.Fprintf(tw, "MANIFEST\tunreadable: %s\n", r.ManifestError)
		return
	}
	fmt.Fprintf(tw, "MANIFEST\tuuid %s, %d bytes\n", m.UUID, m.Size)
	codec := m.Codec
	if !r.CodecMatches {
		codec += " (not the codec or key given: snapshot contents not checked)"
	}
	fmt.Fprintf(tw, "  codec\t%s\n", codec)
	fmt.Fprintf(tw, "  active segment\t%d\n", m.ActiveSegment)
	if e := m.LogEnd; e != nil {
		fmt.Fprintf(tw, "  durable log end\tsegment %d, offset %d, after txn %d\n", e.Segment, e.Offset, e.Txn)
	} else {
		fmt.Fprintf(tw, "  durable log end\tnot recorded (MANIFEST format 1)\n")
	}
	if m.SnapshotID == 0 {
		fmt.Fprintf(tw, "  snapshot\tnone\n")
	} else {
		fmt.Fprintf(tw, "  snapshot\t%d, watermark %d\n", m.SnapshotID, m.Watermark)
	}
}

func printSnapshots(w io.Writer, r *inmem.InspectReport) {
	fmt.Fprintf(w, "\nsnapshots (%d):\n", len(r.Snapshots))
	if len(r.Snapshots) == 0 {
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "  FILE\tSIZE\tWATERMARK\tSTATUS")
	for _, s := range r.Snapshots {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", s.Name, s.Size, s.Watermark, snapshotStatus(r, s))
	}
	tw.Flush()
}

func snapshotStatus(r *inmem.InspectReport, s inmem.SnapshotFileInfo) string {
	status := "unreferenced (reclaimable)"
	switch {
	case s.Current:
		status = "current"
	case r.Manifest == nil:
		status = "unknown (no MANIFEST)"
	}
	switch {
	case s.Damage != "":
		status += ", damaged: " + s.Damage
	case s.Checked:
		status += ", checked"
	default:
		status += ", contents not checked"
	}
	return status
}

func printSegments(w io.Writer, r *inmem.InspectReport) {
	fmt.Fprintf(w, "\nsegments (%d):\n", len(r.Segments))
	if len(r.Segments) == 0 {
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "  FILE\tSIZE\tRECORDS\tFIRST TXN\tLAST TXN\tSTATUS")
	for _, s := range r.Segments {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Size, s.Records, s.FirstTxn, s.LastTxn, segmentStatus(r, s))
	}
	tw.Flush()
}

func segmentStatus(r *inmem.InspectReport, s inmem.SegmentFileInfo) string {
	var status string
	switch {
	case s.Obsolete:
		status = "obsolete (reclaimable)"
	case s.AfterDamage:
		status = "after the damage: recovery does not read it"
	case s.Damage == "":
		return "ok"
	case r.Tail.State == inmem.TailTorn && filepath.Base(r.Tail.File) == s.Name:
		return "torn tail at " + s.Damage
	default:
		return "corrupt at " + s.Damage
	}
	if s.Damage != "" {
		status += ", damaged at " + s.Damage
	}
	return status
}
