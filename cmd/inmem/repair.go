package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem"
)

func init() { register(newRepairCmd) }

// repairReport is what `inmem repair` prints (as JSON with --json).
type repairReport struct {
	Dir          string   `json:"dir"`
	Repaired     bool     `json:"repaired"`
	Damage       string   `json:"damage,omitempty"`
	Cut          string   `json:"cut,omitempty"`
	CutAt        int64    `json:"cut_at,omitempty"`
	MovedAside   []string `json:"moved_aside,omitempty"`
	TornSegment  string   `json:"torn_segment,omitempty"`
	TornBytes    int64    `json:"torn_bytes,omitempty"`
	LostFound    string   `json:"lost_found,omitempty"`
	LastVersion  uint64   `json:"last_version"`
	RecordsKept  int      `json:"records_replayed"`
	SnapshotUsed uint64   `json:"snapshot"`
}

func newRepairCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "repair [DIR]",
		Short: "Open a damaged database at its last consistent point, keeping everything cut in DIR/lost+found",
		Long: `repair recovers a database point-in-time: the log is kept up to its first
damage and everything after is set aside. Before changing anything it moves
every segment it drops, and copies every segment it cuts, into
DIR/lost+found with a note saying why: nothing you had is deleted. A damaged
MANIFEST or snapshot cannot be repaired this way; repair then fails and
changes nothing. Run 'inmem verify' first to see the damage.`,
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
			opts.Recovery, opts.MustExist = inmem.RecoverPointInTime, true
			db, err := inmem.Open(dir, opts)
			if err != nil {
				return g.explainOpen(dir, err)
			}
			rep := db.Recovery()
			if err := db.Close(); err != nil {
				return fmt.Errorf("close %s: %w", dir, err)
			}
			r := repairReport{Dir: dir, LastVersion: uint64(rep.Last), RecordsKept: rep.Records, SnapshotUsed: rep.SnapshotID,
				TornSegment: rep.TornSegment, TornBytes: rep.TornBytes}
			if d := rep.Dropped; d != nil {
				r.Repaired, r.Damage, r.Cut, r.CutAt, r.MovedAside, r.LostFound = true, d.Damage.Error(), d.Cut, d.CutAt, d.Segments, d.LostDir
			}
			if rep.TornSegment != "" {
				r.Repaired = true
				r.LostFound = dir + "/" + inmem.LostFoundName
			}
			return g.output(cmd, r, func(w io.Writer) error { return printRepair(w, r) })
		},
	}
}

func printRepair(w io.Writer, r repairReport) error {
	if !r.Repaired {
		_, err := fmt.Fprintf(w, "%s: nothing to repair; the database is consistent up to v%d\n", r.Dir, r.LastVersion)
		return err
	}
	if r.Damage != "" {
		fmt.Fprintf(w, "damage: %s\n", r.Damage)
	}
	if r.Cut != "" {
		fmt.Fprintf(w, "cut %s at offset %d (the original is in lost+found)\n", r.Cut, r.CutAt)
	}
	for _, s := range r.MovedAside {
		fmt.Fprintf(w, "moved %s into lost+found\n", s)
	}
	if r.TornSegment != "" {
		fmt.Fprintf(w, "cut a torn tail of %d bytes off %s (the original is in lost+found)\n", r.TornBytes, r.TornSegment)
	}
	_, err := fmt.Fprintf(w, "repaired: the database now holds every commit up to v%d; see %s\n", r.LastVersion, r.LostFound)
	return err
}
