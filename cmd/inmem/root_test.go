package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/in-mem/inmem"
)

func TestExitCode(t *testing.T) {
	corrupt := &inmem.CorruptionError{File: "f", Offset: 1, Reason: "r"}
	tcs := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"plain", errors.New("x"), exitError},
		{"usage", usagef("bad"), exitUsage},
		{"wrapped usage", fmt.Errorf("ctx: %w", usagef("bad")), exitUsage},
		{"corruption", fmt.Errorf("verify: %w", corrupt), exitCorrupt},
		{"no database", fmt.Errorf("verify: %w", inmem.ErrNotDatabase), exitNoDB},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// TestRoot_Registry checks every subcommand this package promises is
// registered, and that each execution builds fresh commands.
func TestRoot_Registry(t *testing.T) {
	want := []string{"checkpoint", "compact", "event", "export", "import", "inspect", "kv", "repair", "retention", "runs", "state", "verify"}
	root := newRootCmd()
	for _, name := range want {
		if c, _, err := root.Find([]string{name}); err != nil || c.Name() != name {
			t.Errorf("subcommand %q not registered (%v)", name, err)
		}
	}
	if newRootCmd().Commands()[0] == root.Commands()[0] {
		t.Error("newRootCmd reuses command values across executions")
	}
}
