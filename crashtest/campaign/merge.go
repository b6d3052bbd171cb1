package campaign

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrMerge is matched (errors.Is) by every reason Merge refuses reports.
var ErrMerge = errors.New("campaign: the reports cannot be merged")

// Merge joins the reports of shards of one campaign into one report: the
// same format, tool, seed, shard count and scenarios, each shard once.
// Summary rows of the same scenario and durability add up; matrix cells,
// chart points and violations are kept side by side. A merged report
// passes only if every shard passed.
func Merge(reps ...*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, fmt.Errorf("%w: no report given", ErrMerge)
	}
	first := reps[0]
	out := &Report{Format: first.Format, Tool: first.Tool, Seed: first.Seed, Shards: first.Shards, Scenarios: first.Scenarios,
		Started: first.Started, Machine: first.Machine, Passed: true}
	for i, r := range reps {
		if err := mergeable(first, r, out.Merged); err != nil {
			return nil, fmt.Errorf("%w: report %d: %w", ErrMerge, i+1, err)
		}
		out.Merged = append(out.Merged, shardsOf(r)...)
		out.join(r)
	}
	slices.Sort(out.Merged)
	out.Summary = nonNil(out.Summary)
	out.Matrix, out.Iterations, out.Violations = nonNil(out.Matrix), nonNil(out.Iterations), nonNil(out.Violations)
	return out, nil
}

// mergeable says why r cannot join a merge begun with first (nil if it can).
func mergeable(first, r *Report, seen []int) error {
	switch {
	case r.Format != ReportFormat:
		return fmt.Errorf("format %d, want %d", r.Format, ReportFormat)
	case r.Tool != first.Tool:
		return fmt.Errorf("made by %q, the first by %q", r.Tool, first.Tool)
	case r.Seed != first.Seed:
		return fmt.Errorf("seed %d, the first report's is %d: different campaigns", r.Seed, first.Seed)
	case r.Shards != first.Shards:
		return fmt.Errorf("%d shards, the first report's campaign has %d", r.Shards, first.Shards)
	case !slices.Equal(r.Scenarios, first.Scenarios):
		return fmt.Errorf("scenarios %v, the first report's are %v", r.Scenarios, first.Scenarios)
	}
	for _, s := range shardsOf(r) {
		if slices.Contains(seen, s) {
			return fmt.Errorf("shard %d/%d is already merged", s, r.Shards)
		}
		if s < 0 || s >= r.Shards {
			return fmt.Errorf("shard %d is outside 0..%d", s, r.Shards-1)
		}
	}
	return nil
}

// shardsOf returns the shards a report holds.
func shardsOf(r *Report) []int {
	if len(r.Merged) > 0 {
		return r.Merged
	}
	return []int{r.Shard}
}

// join adds r to the merged report m.
func (m *Report) join(r *Report) {
	for _, s := range r.Summary {
		i := slices.IndexFunc(m.Summary, func(x Summary) bool { return x.Scenario == s.Scenario && x.Durability == s.Durability })
		if i < 0 {
			m.Summary = append(m.Summary, s)
			continue
		}
		t := &m.Summary[i]
		t.Runs += s.Runs
		t.AckedVerified += s.AckedVerified
		t.AckedLost += s.AckedLost
		t.PermittedLoss += s.PermittedLoss
		t.Violations += s.Violations
		t.Notices += s.Notices
		t.Interrupted += s.Interrupted
		t.addClasses(s.Classes)
		t.addCoverage(s.Coverage)
		t.Seconds = max(t.Seconds, s.Seconds)
	}
	m.Matrix = append(m.Matrix, r.Matrix...)
	m.Iterations = append(m.Iterations, r.Iterations...)
	m.Violations = append(m.Violations, r.Violations...)
	m.Notices = append(m.Notices, r.Notices...)
	if r.Started.Before(m.Started) {
		m.Started = r.Started
	}
	m.Seconds = max(m.Seconds, r.Seconds)
	m.Passed = m.Passed && r.Passed
	m.Interrupted = m.Interrupted || r.Interrupted
	if r.Error != "" {
		m.Error = strings.TrimPrefix(m.Error+"; ", "; ") + fmt.Sprintf("shard %v: %s", shardsOf(r), r.Error)
	}
}

// nonNil keeps empty lists as [] in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
