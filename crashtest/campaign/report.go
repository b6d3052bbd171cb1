package campaign

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// ReportFormat is the version of the report's JSON layout. It changes only
// when a field changes meaning or disappears; new fields may be added
// without a change.
const ReportFormat = 1

// Report is a campaign's result. Its JSON form is stable (see ReportFormat):
//
//	format       layout version (1)
//	tool         "in-mem crash campaign"
//	seed, shard, shards, started (RFC 3339), seconds, passed
//	interrupted  the campaign was stopped before its end (a partial report)
//	error        the campaign itself failed (a partial report)
//	merged       the shards a merged report holds (absent for one shard)
//	machine      go_version, os, arch, cpus, host
//	summary[]    scenario, durability, runs, unit, acked_verified, acked_lost, permitted_loss, violations, seconds
//	matrix[]     crash_point, crash_type, durability, expectation, runs, hits, acked_verified, passed, failures[],
//	             reproduction, reproduce, duration_ns
//	iterations[] scenario, durability, index, recovery_ms, acked, promised, recovered, passed
//	violations[] scenario, durability, summary, detail, reproduction, reproduce
//
// A reproduction is {scenario, seed, durability, iterations, params[{name,
// value}]}; reproduce is the command line that runs it.
type Report struct {
	Format      int              `json:"format"`
	Tool        string           `json:"tool"`
	Seed        uint64           `json:"seed"`
	Shard       int              `json:"shard"`
	Shards      int              `json:"shards"`
	Merged      []int            `json:"merged,omitempty"`
	Scenarios   []string         `json:"scenarios"`
	Started     time.Time        `json:"started"`
	Seconds     float64          `json:"seconds"`
	Passed      bool             `json:"passed"`
	Interrupted bool             `json:"interrupted,omitempty"`
	Error       string           `json:"error,omitempty"`
	Machine     Machine          `json:"machine"`
	Summary     []Summary        `json:"summary"`
	Matrix      []crashtest.Cell `json:"matrix"`
	Iterations  []Point          `json:"iterations"`
	Violations  []ViolationEntry `json:"violations"`
}

// Machine describes where the campaign ran.
type Machine struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	Host      string `json:"host"`
}

// Summary is one row of the summary table: one scenario under one
// durability mode.
type Summary struct {
	Scenario      string  `json:"scenario"`
	Durability    string  `json:"durability"`
	Runs          int     `json:"runs"`
	Unit          string  `json:"unit"` // what a run is: crashes, kills, crash states, ...
	AckedVerified int     `json:"acked_verified"`
	AckedLost     int     `json:"acked_lost"`
	PermittedLoss int     `json:"permitted_loss"`
	Violations    int     `json:"violations"`
	Seconds       float64 `json:"seconds"`
}

// Point is one point of the report's charts.
type Point struct {
	Scenario   string `json:"scenario"`
	Durability string `json:"durability"`
	crashtest.Sample
}

// ViolationEntry is one broken promise, with its reproduction.
type ViolationEntry struct {
	Scenario     string                 `json:"scenario"`
	Durability   string                 `json:"durability"`
	Summary      string                 `json:"summary"`
	Detail       string                 `json:"detail"`
	Reproduction crashtest.Reproduction `json:"reproduction"`
	Reproduce    string                 `json:"reproduce"`
}

func newReport(cfg Config, start time.Time) *Report {
	return &Report{Format: ReportFormat, Tool: "in-mem crash campaign", Seed: cfg.Seed, Shard: cfg.Shard, Shards: cfg.Shards,
		Scenarios: cfg.Scenarios, Started: start.UTC(), Machine: machine(),
		Summary: []Summary{}, Matrix: []crashtest.Cell{}, Iterations: []Point{}, Violations: []ViolationEntry{}}
}

// add books a finished session.
func (r *Report) add(sc crashtest.Scenario, s *crashtest.Session, took time.Duration) {
	f := &s.Found
	label := f.Label
	if label == "" {
		label = s.Durability.String()
	}
	r.Summary = append(r.Summary, Summary{Scenario: sc.Name(), Durability: label, Runs: f.Runs, Unit: sc.Help().Unit,
		AckedVerified: f.AckedVerified, AckedLost: f.AckedLost, PermittedLoss: f.PermittedLoss, Violations: len(f.Violations),
		Seconds: took.Seconds()})
	r.Matrix = append(r.Matrix, f.Cells...)
	for _, x := range f.Samples {
		r.Iterations = append(r.Iterations, Point{Scenario: sc.Name(), Durability: label, Sample: x})
	}
	for _, v := range f.Violations {
		r.Violations = append(r.Violations, ViolationEntry{Scenario: sc.Name(), Durability: label, Summary: v.Summary,
			Detail: v.Detail, Reproduction: v.Reproduction})
	}
}

func (r *Report) finish(start time.Time, interrupted bool, err error) {
	r.Seconds = time.Since(start).Seconds()
	r.Interrupted = interrupted
	if err != nil {
		r.Error = err.Error()
	}
	r.Passed = len(r.Violations) == 0 && !interrupted && err == nil
}

// SetCommands fills every Reproduce field from its Reproduction with
// format: the command line knows how a reproduction is spelled as a
// command; this package does not.
func (r *Report) SetCommands(format func(crashtest.Reproduction) string) {
	for i := range r.Violations {
		r.Violations[i].Reproduce = format(r.Violations[i].Reproduction)
	}
	for i := range r.Matrix {
		r.Matrix[i].Reproduce = format(r.Matrix[i].Reproduction)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report WriteJSON wrote; a report of another format is
// refused.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("not a campaign report: %w", err)
	}
	if r.Format != ReportFormat {
		return nil, fmt.Errorf("report format %d: this version reads format %d", r.Format, ReportFormat)
	}
	return &r, nil
}

// ReadJSONFile reads the report in path.
func ReadJSONFile(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
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
	fmt.Fprintln(tw, "scenario\tdurability\truns\t\tacked verified\tacked lost\tpermitted loss\tviolations\ttime\t")
	var total Summary
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%.1fs\t\n", s.Scenario, s.Durability, s.Runs, s.Unit, s.AckedVerified,
			s.AckedLost, s.PermittedLoss, s.Violations, s.Seconds)
		total.AckedVerified += s.AckedVerified
		total.AckedLost += s.AckedLost
		total.PermittedLoss += s.PermittedLoss
		total.Violations += s.Violations
	}
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t%d\t%d\t%.1fs\t\n", total.AckedVerified, total.AckedLost, total.PermittedLoss, total.Violations, r.Seconds)
	tw.Flush()
	for i, v := range r.Violations {
		fmt.Fprintf(w, "\nVIOLATION %d (%s, %s): %s\n%s\n  reproduce: %s\n", i+1, v.Scenario, v.Durability, v.Summary, indent(v.Detail), v.Reproduce)
	}
	fmt.Fprintf(w, "\n%s (%s)\n", r.verdict(), r.shardText())
}

func (r *Report) verdict() string {
	switch {
	case len(r.Violations) > 0:
		return fmt.Sprintf("FAIL: %d violations", len(r.Violations))
	case r.Error != "":
		return "ERROR: the campaign failed: " + r.Error
	case r.Interrupted:
		return "INTERRUPTED: no violation in the work done, but the campaign did not finish"
	}
	return "PASS: every promise held"
}

func (r *Report) shardText() string {
	if len(r.Merged) > 0 {
		return fmt.Sprintf("seed %d, shards %v of %d merged", r.Seed, r.Merged, r.Shards)
	}
	return fmt.Sprintf("seed %d, shard %d/%d", r.Seed, r.Shard, r.Shards)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = append(lines[:40], fmt.Sprintf("... %d more lines", len(lines)-40))
	}
	return "  " + strings.Join(lines, "\n  ")
}
