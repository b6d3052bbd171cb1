package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify [DIR]",
		Short: "Recover a database in memory and check it, changing nothing on disk",
		Long: `Recover the database in DIR the way opening it would, but from an in-memory
copy of its files, so that nothing on disk changes (a torn tail is reported,
not cut). Report what it holds: runs, keys, versions, events, cells and the
last version.

Exit status 3 means the database is corrupt: the message names the file,
the offset and the reason. A torn tail is not corruption: it is what a
power loss leaves, and opening the database cuts it off.
An encrypted database needs --encryption-key-file.`,
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
			r, verr := inmem.Verify(dir, opts)
			var ce *inmem.CorruptionError
			if errors.As(verr, &ce) && g.json {
				if err := g.output(cmd, verifyJSON{OK: false, Corruption: newCorruptionJSON(ce)}, nil); err != nil {
					return err
				}
			}
			if verr != nil {
				return g.explain("verify", dir, verr)
			}
			return g.output(cmd, verifyJSON{OK: true, VerifyReport: r}, func(w io.Writer) error { return printVerify(w, r) })
		},
	}
}

// verifyJSON is the JSON output of verify: the report, or the corruption.
type verifyJSON struct {
	OK bool `json:"ok"`
	*inmem.VerifyReport
	Corruption *corruptionJSON `json:"corruption,omitempty"`
}

func printVerify(w io.Writer, r *inmem.VerifyReport) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "database\t%s: ok\n", r.Dir)
	if r.SnapshotID != 0 {
		fmt.Fprintf(tw, "snapshot\t%d, watermark %d\n", r.SnapshotID, r.Watermark)
	} else {
		fmt.Fprintf(tw, "snapshot\tnone\n")
	}
	fmt.Fprintf(tw, "log\t%d segments, %d records replayed\n", r.Segments, r.Records)
	fmt.Fprintf(tw, "runs\t%d\n", r.Runs)
	fmt.Fprintf(tw, "keys\t%d (%d versions)\n", r.Keys, r.Versions)
	fmt.Fprintf(tw, "events\t%d\n", r.Events)
	fmt.Fprintf(tw, "cells\t%d\n", r.Cells)
	fmt.Fprintf(tw, "last version\t%d\n", r.LastVersion)
	switch {
	case !r.TornTail:
		fmt.Fprintf(tw, "torn tail\tnone\n")
	case r.HeaderTorn:
		fmt.Fprintf(tw, "torn tail\t%s: its header never became durable; opening removes it (%d bytes)\n", r.TornSegment, r.TornBytes)
	default:
		fmt.Fprintf(tw, "torn tail\t%s: opening cuts %d bytes at offset %d\n", r.TornSegment, r.TornBytes, r.TornOffset)
	}
	return tw.Flush()
}
