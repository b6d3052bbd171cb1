package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs inmem with args in-process, as execute does, and returns what
// it printed on stdout and the error the command returned.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	return out.String(), err
}

// mustRun is runCLI that fails the test on an error.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("inmem %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// fromJSON decodes a command's --json output.
func fromJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return v
}

// newDir returns a database directory that does not exist yet.
func newDir(t *testing.T) string { return filepath.Join(t.TempDir(), "db") }

func TestExecute_ExitStatus(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v")
	tcs := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ok", []string{"kv", "get", "--dir", dir, "r", "k"}, exitOK, ""},
		{"help", []string{"--help"}, exitOK, ""},
		{"group alone", []string{"kv"}, exitOK, ""},
		{"missing run", []string{"kv", "get", "--dir", dir, "nope", "k"}, exitError, `run "nope": inmem: run not found`},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate" for "inmem"`},
		{"unknown subcommand", []string{"kv", "frob"}, exitUsage, `unknown command "frob" for "inmem kv"`},
		{"arg count", []string{"kv", "get", "--dir", dir, "r"}, exitUsage, "accepts 2 arg(s), received 1"},
		{"unknown flag", []string{"kv", "get", "--dir", dir, "--bogus", "r", "k"}, exitUsage, "unknown flag: --bogus"},
		{"no dir", []string{"kv", "get", "r", "k"}, exitUsage, "--dir DIR is required"},
		{"bad durability", []string{"kv", "put", "--dir", dir, "--durability", "eventual", "r", "k", "v"}, exitUsage, `--durability "eventual"`},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := execute(tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), tc.code, tc.stderr)
			}
			if tc.code == exitUsage && !strings.Contains(errOut.String(), "--help' for usage") {
				t.Errorf("usage error without a hint: %q", errOut.String())
			}
		})
	}
}
