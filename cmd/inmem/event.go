package main

import (
	"fmt"
	"io"
	"math"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newEventCmd) }

func newEventCmd(g *globals) *cobra.Command {
	return newGroupCmd("event", "Append to and read a run's event log",
		newEventAppendCmd(g), newEventRangeCmd(g))
}

// eventJSON is one event in JSON output.
type eventJSON struct {
	Seq uint64 `json:"seq"`
	jsonValue
	Version   inmem.Version `json:"version"`
	Timestamp string        `json:"timestamp"`
}

func newEventAppendCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "append RUN PAYLOAD",
		Short: "Append PAYLOAD to RUN's event log (creating the database and the run if needed)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, payload := args[0], args[1]
			if err := checkRun(run); err != nil {
				return err
			}
			return g.withDB(openOrCreate, func(db *inmem.DB) error {
				var seq uint64
				v, err := db.Commit(func(tx *inmem.Tx) error {
					id, err := tx.GetOrCreateRun(run)
					if err != nil {
						return err
					}
					seq, err = tx.EventAppend(id, []byte(payload))
					return err
				})
				if err != nil {
					return fmt.Errorf("event append %q: %w", run, err)
				}
				out := struct {
					Run     string        `json:"run"`
					Seq     uint64        `json:"seq"`
					Version inmem.Version `json:"version"`
				}{run, seq, v}
				return g.output(cmd, out, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "appended event %d to run %q at version %d\n", seq, run, v)
					return err
				})
			})
		},
	}
}

func newEventRangeCmd(g *globals) *cobra.Command {
	var from, to uint64
	cmd := &cobra.Command{
		Use:   "range RUN",
		Short: "List RUN's events with --from <= seq < --to",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run := args[0]
			if err := checkRun(run); err != nil {
				return err
			}
			if !cmd.Flags().Changed("to") {
				to = math.MaxUint64
			}
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				evs, err := db.EventRange(id, from, to)
				if err != nil {
					return fmt.Errorf("event range %q: %w", run, err)
				}
				return g.output(cmd, eventsJSON(run, evs), func(w io.Writer) error { return printEvents(w, evs) })
			})
		},
	}
	cmd.Flags().Uint64Var(&from, "from", 0, "first sequence number")
	cmd.Flags().Uint64Var(&to, "to", 0, "sequence number to stop before (default: the end)")
	return cmd
}

func eventsJSON(run string, evs []inmem.Event) any {
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = eventJSON{Seq: e.Seq, jsonValue: encodeValue(e.Payload), Version: e.Version, Timestamp: formatTime(e.Timestamp)}
	}
	return struct {
		Run    string      `json:"run"`
		Events []eventJSON `json:"events"`
	}{run, out}
}

func printEvents(w io.Writer, evs []inmem.Event) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "SEQ\tVERSION\tTIMESTAMP\tPAYLOAD")
	for _, e := range evs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", e.Seq, e.Version, formatTime(e.Timestamp), printable(e.Payload))
	}
	return tw.Flush()
}
