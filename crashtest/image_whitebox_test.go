package crashtest

import (
	"strings"
	"testing"
)

// TestImage_Check breaks each invariant Check checks in an image.
func TestImage_Check(t *testing.T) {
	tcs := []struct {
		name  string
		spoil func(s *dbState, r *runState)
		want  string
	}{
		{"sound", func(*dbState, *runState) {}, ""},
		{"version above last", func(s *dbState, _ *runState) { s.last = 2 }, "event:r#0"},
		{"sequence gap", func(_ *dbState, r *runState) { r.events[0].seq = 1 }, "event:r#0"},
		{"history out of order", func(_ *dbState, r *runState) { r.kv["k"][0] = kvVersion{version: 2, ts: 20} }, "kv:r/k"},
		{"time goes back", func(_ *dbState, r *runState) { r.events[0].ts = 5 }, "event:r#0"},
		{"one commit, two times", func(_ *dbState, r *runState) { r.cells["c"] = cellRec{version: 2, ts: 21} }, "cell:r/c"},
	}
	for _, tc := range tcs {
		s := newDBState()
		s.last = 3
		r := s.run("r", 1)
		r.createdTS = 10
		r.kv["k"] = []kvVersion{{version: 1, ts: 10}, {version: 2, ts: 20}}
		r.cells["c"] = cellRec{version: 2, ts: 20}
		r.events = []eventRec{{seq: 0, version: 3, ts: 30}}
		tc.spoil(s, r)
		var got []string
		for _, m := range (&Image{s}).Check() {
			got = append(got, m.Entity)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: Check finds %v, want %q", tc.name, got, tc.want)
		}
	}
}
