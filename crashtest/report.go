package crashtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/in-mem/inmem"
)

// ReportFormat is the version of the campaign report's JSON layout. It
// changes only when a field changes meaning or disappears; new fields may
// be added without a change.
const ReportFormat = 1

// Report is a campaign's result. Its JSON form is stable (see ReportFormat):
//
//	format       layout version (1)
//	tool         "in-mem crash campaign"
//	seed, shard, shards, started (RFC 3339), seconds, passed
//	machine      go_version, os, arch, cpus, host
//	summary[]    scenario, durability, runs, unit, acked_verified, acked_lost, violations, seconds
//	matrix[]     crash_point, crash_type, durability, expectation, runs, hits, acked_verified, passed, failures[], reproduce, duration_ns
//	iterations[] scenario, durability, index, recovery_ms, acked, recovered, passed
//	violations[] scenario, durability, summary, detail, reproduce
type Report struct {
	Format     int               `json:"format"`
	Tool       string            `json:"tool"`
	Seed       uint64            `json:"seed"`
	Shard      int               `json:"shard"`
	Shards     int               `json:"shards"`
	Scenarios  []string          `json:"scenarios"`
	Started    time.Time         `json:"started"`
	Seconds    float64           `json:"seconds"`
	Passed     bool              `json:"passed"`
	Machine    Machine           `json:"machine"`
	Summary    []ScenarioSummary `json:"summary"`
	Matrix     []MatrixCell      `json:"matrix"`
	Iterations []IterationPoint  `json:"iterations"`
	Violations []ViolationEntry  `json:"violations"`
}

// Machine describes where the campaign ran.
type Machine struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	Host      string `json:"host"`
}

// ScenarioSummary is one row of the summary table.
type ScenarioSummary struct {
	Scenario      string  `json:"scenario"`
	Durability    string  `json:"durability"`
	Runs          int     `json:"runs"`
	Unit          string  `json:"unit"` // what a run is: crashes, kills, crash states, ...
	AckedVerified int     `json:"acked_verified"`
	AckedLost     int     `json:"acked_lost"`
	Violations    int     `json:"violations"`
	Seconds       float64 `json:"seconds"`
}

// IterationPoint is one point of the report's charts.
type IterationPoint struct {
	Scenario   string  `json:"scenario"`
	Durability string  `json:"durability"`
	Index      int     `json:"index"`
	RecoveryMs float64 `json:"recovery_ms"`
	Acked      uint64  `json:"acked"`     // the highest acknowledged version before the crash
	Recovered  uint64  `json:"recovered"` // the recovered version
	Passed     bool    `json:"passed"`
}

// ViolationEntry is one broken promise, with the command that reproduces it.
type ViolationEntry struct {
	Scenario   string `json:"scenario"`
	Durability string `json:"durability"`
	Summary    string `json:"summary"`
	Detail     string `json:"detail"`
	Reproduce  string `json:"reproduce"`
}

func newReport(cfg CampaignConfig, start time.Time) *Report {
	return &Report{Format: ReportFormat, Tool: "in-mem crash campaign", Seed: cfg.Seed, Shard: cfg.Shard, Shards: cfg.Shards,
		Scenarios: cfg.Scenarios, Started: start.UTC(), Machine: machine(),
		Summary: []ScenarioSummary{}, Matrix: []MatrixCell{}, Iterations: []IterationPoint{}, Violations: []ViolationEntry{}}
}

func (r *Report) violation(scenario string, d inmem.Durability, summary, detail, reproduce string) {
	r.Violations = append(r.Violations, ViolationEntry{Scenario: scenario, Durability: d.String(), Summary: summary, Detail: detail, Reproduce: reproduce})
}

func (r *Report) finish(start time.Time) {
	r.Seconds = time.Since(start).Seconds()
	r.Passed = len(r.Violations) == 0
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteJSONFile writes the report to path.
func (r *Report) WriteJSONFile(path string) error { return writeFile(path, r.WriteJSON) }

// WriteHTMLFile writes the HTML report to path.
func (r *Report) WriteHTMLFile(path string) error { return writeFile(path, r.WriteHTML) }

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteTable writes the summary table and, for each violation, what broke
// and the command that reproduces it.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdurability\truns\t\tacked verified\tacked lost\tviolations\ttime\t")
	total := ScenarioSummary{Scenario: "total"}
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%.1fs\t\n", s.Scenario, s.Durability, s.Runs, s.Unit, s.AckedVerified, s.AckedLost, s.Violations, s.Seconds)
		total.AckedVerified += s.AckedVerified
		total.AckedLost += s.AckedLost
		total.Violations += s.Violations
	}
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t%d\t%.1fs\t\n", total.AckedVerified, total.AckedLost, total.Violations, r.Seconds)
	tw.Flush()
	for i, v := range r.Violations {
		fmt.Fprintf(w, "\nVIOLATION %d (%s, %s): %s\n%s\n  reproduce: %s\n", i+1, v.Scenario, v.Durability, v.Summary, indent(v.Detail), v.Reproduce)
	}
	verdict := "PASS: every promise held"
	if !r.Passed {
		verdict = fmt.Sprintf("FAIL: %d violations", len(r.Violations))
	}
	fmt.Fprintf(w, "\n%s (seed %d, shard %d/%d)\n", verdict, r.Seed, r.Shard, r.Shards)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = append(lines[:40], fmt.Sprintf("... %d more lines", len(lines)-40))
	}
	return "  " + strings.Join(lines, "\n  ")
}
