package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// newCrashTargetChildCmd serves in-mem's key/value Targets
// (crashtest.InmemTargets) to the crash commands' --target, over the target
// protocol (docs/target-protocol.md). Hidden: its interface is
// proc.TargetMain's (serve, the default, and list).
func newCrashTargetChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "target-child",
		Short:              "The key/value target of the crash commands: the target protocol on stdin and stdout (serve, list)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := proc.TargetMain(args, crashtest.InmemTargets()); code != 0 {
				return fmt.Errorf("target child exited with status %d", code)
			}
			return nil
		},
	}
}
