package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/spf13/cobra"
)

// Adding a subcommand
//
// Each subcommand lives in its own file, NAME.go, tested by NAME_test.go.
// The file registers a constructor from an init function:
//
//	func init() { register(newNAMECmd) }
//
//	func newNAMECmd(g *globals) *cobra.Command {
//		return &cobra.Command{
//			Use:  "NAME ARG",
//			Args: exactArgs(1),
//			RunE: func(cmd *cobra.Command, args []string) error {
//				return g.withDB(openExisting, func(db *inmem.DB) error { ... })
//			},
//		}
//	}
//
// newRootCmd calls every registered constructor on each execution, so each
// run (and each test) gets fresh commands and flag values. A constructor
// reads the shared flags through g (--dir, --json, --encryption-key-file,
// --durability; see globals.go), writes to cmd.OutOrStdout() through
// g.output, and returns errors instead of exiting: execute maps them to an
// exit status (exitCode). Argument validators built with exactArgs,
// rangeArgs or withUsage make a bad invocation a usage error (status 2).
// Tests run the command in-process with runCLI (root_test.go).

// registry holds the subcommand constructors, in registration order.
var registry []func(*globals) *cobra.Command

// register adds a subcommand constructor; call it from an init function.
func register(newCmd func(*globals) *cobra.Command) {
	registry = append(registry, newCmd)
}

// Exit statuses.
const (
	exitOK      = 0
	exitError   = 1 // the command failed
	exitUsage   = 2 // bad arguments or flags
	exitCorrupt = 3 // the database is corrupt (errors.Is inmem.ErrCorrupt)
	exitNoDB    = 4 // the directory holds no database (errors.Is inmem.ErrNotDatabase)
	// exitInterrupted: a crash campaign stopped on SIGINT or SIGTERM (128
	// plus SIGINT's number, as shells report it).
	exitInterrupted = 130
)

// newRootCmd builds the whole command tree.
func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "inmem",
		Short: "Read, write, maintain and examine in-mem databases",
		Long: `inmem works on an in-mem database directory, given as --dir DIR.

Commands that write (kv put, event append, state set and cas) create the
database and the run if they do not exist; every other command needs an
existing database. Commands that only read (kv get, history and keys, event
range, state get, runs, retention get, inspect, verify) open it read-only:
they change nothing on disk and work on read-only media.

A directory without a MANIFEST holds no database: nothing, or a creation
cut short before it wrote its MANIFEST, which the next write finishes.

Exit status: 0 success, 1 error, 2 usage error, 3 the database is corrupt,
4 the directory holds no database.`,
		Args:          withUsage(noSubcommand),
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	g.addFlags(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	for _, newCmd := range registry {
		root.AddCommand(newCmd(g))
	}
	return root
}

// execute runs the command line args, writing to stdout and stderr, and
// returns the exit status.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, crashtest.ErrBadSetting):
		return exitUsage
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.Is(err, inmem.ErrCorrupt):
		return exitCorrupt
	case errors.Is(err, inmem.ErrNotDatabase):
		return exitNoDB
	}
	return exitError
}

// usageError marks a bad invocation.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// withUsage makes the errors of an argument validator usage errors.
func withUsage(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func exactArgs(n int) cobra.PositionalArgs      { return withUsage(cobra.ExactArgs(n)) }
func rangeArgs(lo, hi int) cobra.PositionalArgs { return withUsage(cobra.RangeArgs(lo, hi)) }

// noSubcommand rejects arguments to a command that only groups others: an
// argument there is a subcommand name that does not exist.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// newGroupCmd returns a command that groups subs; run alone it prints its
// help.
func newGroupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  withUsage(noSubcommand),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(subs...)
	return c
}
