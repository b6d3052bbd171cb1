package main

import (
	"errors"
	"testing"

	"github.com/in-mem/inmem"
)

func TestState_SetGetCAS(t *testing.T) {
	dir := newDir(t)
	if out := mustRun(t, "state", "set", "--dir", dir, "r", "phase", "init"); out != "set cell \"phase\" of run \"r\" at version 1\n" {
		t.Errorf("set printed %q", out)
	}
	if out := mustRun(t, "state", "get", "--dir", dir, "r", "phase"); out != "init\n" {
		t.Errorf("get printed %q", out)
	}
	w := fromJSON[stateWrite](t, mustRun(t, "state", "cas", "--dir", dir, "--json", "r", "phase", "1", "running"))
	if w != (stateWrite{"r", "phase", 2}) {
		t.Errorf("cas --json = %+v", w)
	}
	_, err := runCLI(t, "state", "cas", "--dir", dir, "r", "phase", "1", "stale")
	var vm *inmem.VersionMismatchError
	if !errors.As(err, &vm) || vm.Expected != 1 || vm.Actual != 2 {
		t.Errorf("stale cas: %v, want a version mismatch (expected 1, actual 2)", err)
	}
	got := fromJSON[kvVersion](t, mustRun(t, "state", "get", "--dir", dir, "--json", "r", "phase"))
	if valueOf(got) != "running" || got.Version != 2 {
		t.Errorf("get --json after the failed cas = %+v", got)
	}
}

func TestState_CASCreates(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "state", "cas", "--dir", dir, "new-run", "lock", "0", "held")
	if _, err := runCLI(t, "state", "cas", "--dir", dir, "new-run", "lock", "0", "again"); !errors.Is(err, inmem.ErrVersionMismatch) {
		t.Errorf("second cas 0: %v", err)
	}
	if _, err := runCLI(t, "state", "cas", "--dir", dir, "other", "lock", "7", "x"); !errors.Is(err, inmem.ErrVersionMismatch) {
		t.Errorf("cas 7 on a new run: %v", err)
	}
	if _, err := runCLI(t, "state", "get", "--dir", dir, "other", "lock"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Errorf("a failed cas created its run: %v", err)
	}
}

func TestState_Errors(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "state", "set", "--dir", dir, "r", "c", "v")
	if _, err := runCLI(t, "state", "get", "--dir", dir, "r", "nope"); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("get missing cell: %v", err)
	}
	if _, err := runCLI(t, "state", "cas", "--dir", dir, "r", "c", "one", "v"); exitCode(err) != exitUsage {
		t.Errorf("cas with a bad version: %v, want a usage error", err)
	}
}
