package campaign_test

import (
	"errors"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/campaign"
)

func shardReport(seed uint64, shard, shards int, violations int) *campaign.Report {
	r := &campaign.Report{Format: campaign.ReportFormat, Tool: "in-mem crash campaign", Seed: seed, Shard: shard, Shards: shards,
		Scenarios: []string{"kill"}, Passed: violations == 0,
		Summary: []campaign.Summary{{Scenario: "kill", Durability: "strict", Runs: 10, Unit: "kills", AckedVerified: 100, Violations: violations}}}
	for range violations {
		r.Violations = append(r.Violations, campaign.ViolationEntry{Scenario: "kill", Summary: "lost",
			Reproduction: crashtest.Reproduction{Scenario: "kill", Seed: seed}})
	}
	return r
}

func TestMerge_Shards(t *testing.T) {
	m, err := campaign.Merge(shardReport(7, 1, 3, 0), shardReport(7, 0, 3, 1), shardReport(7, 2, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Summary
	if len(s) != 1 || s[0].Runs != 30 || s[0].AckedVerified != 300 || s[0].Violations != 1 || len(m.Violations) != 1 {
		t.Fatalf("merged summary %+v, %d violations", s, len(m.Violations))
	}
	if m.Passed || len(m.Merged) != 3 || m.Merged[0] != 0 || m.Merged[2] != 2 {
		t.Fatalf("passed %v, merged %v", m.Passed, m.Merged)
	}
	// A merged report merges again with the shards it lacks.
	part, err := campaign.Merge(shardReport(7, 0, 3, 0), shardReport(7, 1, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if all, err := campaign.Merge(part, shardReport(7, 2, 3, 0)); err != nil || !all.Passed || len(all.Merged) != 3 {
		t.Fatalf("%v, %+v", err, all)
	}
}

func TestMerge_Refuses(t *testing.T) {
	other := shardReport(7, 1, 2, 0)
	other.Format = 2
	tcs := []struct {
		name string
		reps []*campaign.Report
	}{
		{"nothing", nil},
		{"different seeds", []*campaign.Report{shardReport(7, 0, 2, 0), shardReport(8, 1, 2, 0)}},
		{"a shard twice", []*campaign.Report{shardReport(7, 0, 2, 0), shardReport(7, 0, 2, 0)}},
		{"different shard counts", []*campaign.Report{shardReport(7, 0, 2, 0), shardReport(7, 1, 3, 0)}},
		{"another format", []*campaign.Report{shardReport(7, 0, 2, 0), other}},
		{"a shard out of range", []*campaign.Report{shardReport(7, 0, 2, 0), shardReport(7, 2, 2, 0)}},
	}
	for _, tc := range tcs {
		if _, err := campaign.Merge(tc.reps...); !errors.Is(err, campaign.ErrMerge) {
			t.Errorf("%s: %v, want ErrMerge", tc.name, err)
		}
	}
}
