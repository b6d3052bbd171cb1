package main

import (
	"errors"
	"testing"

	"github.com/in-mem/inmem"
)

func TestRetention_SetGet(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v")
	if out := mustRun(t, "retention", "get", "--dir", dir, "r"); out != "keep-all\n" {
		t.Errorf("default policy printed %q", out)
	}
	tcs := []struct{ arg, want string }{
		{"last:3", "keep-last(3)"},
		{"for:36h", "keep-for(36h0m0s)"},
		{"all", "keep-all"},
	}
	for _, tc := range tcs {
		mustRun(t, "retention", "set", "--dir", dir, "r", tc.arg)
		got := fromJSON[retentionJSON](t, mustRun(t, "retention", "get", "--dir", dir, "--json", "r"))
		if got.Run != "r" || got.Policy != tc.want {
			t.Errorf("after set %s: %+v, want %s", tc.arg, got, tc.want)
		}
	}
}

func TestRetention_Errors(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v")
	for _, bad := range []string{"last:0", "for:-1h", "forever", "last:x"} {
		if _, err := runCLI(t, "retention", "set", "--dir", dir, "r", bad); exitCode(err) != exitUsage || !errors.Is(err, inmem.ErrInvalid) {
			t.Errorf("set %q: %v, want a usage error", bad, err)
		}
	}
	if _, err := runCLI(t, "retention", "set", "--dir", dir, "nope", "all"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Errorf("set on a missing run: %v", err)
	}
	if _, err := runCLI(t, "retention", "get", "--dir", dir, "nope"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Errorf("get on a missing run: %v", err)
	}
}
