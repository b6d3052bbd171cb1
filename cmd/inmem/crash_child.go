package main

import (
	"fmt"

	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/spf13/cobra"
)

// newCrashChildCmd is the workload child the kill scenario runs and kills.
// It is hidden: its interface is the acknowledgement pipe on fd 3.
func newCrashChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "child",
		Short:              "The workload child of the kill scenario (reports on file descriptor 3)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := proc.ChildMain(args); code != 0 {
				return fmt.Errorf("workload child exited with status %d", code)
			}
			return nil
		},
	}
}
