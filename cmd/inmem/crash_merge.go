package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest/campaign"
)

// newCrashMergeCmd is `inmem crash merge`: the shards of one campaign,
// joined into one report.
func newCrashMergeCmd() *cobra.Command {
	f := &campaignFlags{}
	c := &cobra.Command{
		Use:   "merge REPORT.json...",
		Short: "Join the JSON reports of a campaign's shards into one report (same seed and format, each shard once)",
		Long: `merge reads the JSON reports of the shards of one campaign (the same seed,
shard count and scenarios, as --shard i/n runs them) and writes one report:
the summary rows added up, every matrix cell, chart point and violation kept.
Reports of different campaigns or formats, or the same shard twice, are
refused. It prints the merged summary table and exits 1 if any shard found a
violation.`,
		Args: withUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var reps []*campaign.Report
			for _, path := range args {
				r, err := campaign.ReadJSONFile(path)
				if err != nil {
					return err
				}
				reps = append(reps, r)
			}
			merged, err := campaign.Merge(reps...)
			if err != nil {
				return &usageError{fmt.Errorf("merge: %w", err)}
			}
			return report(cmd.OutOrStdout(), merged, f, nil)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.jsonFile, "json", "", "write the merged JSON report to this file")
	fl.StringVar(&f.htmlFile, "html", "", "write the merged HTML report to this file")
	return c
}
