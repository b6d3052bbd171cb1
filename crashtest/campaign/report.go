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
//	summary[]    scenario, durability, runs, unit, acked_verified, acked_lost, permitted_loss, violations, seconds,
//	             and where measured: classes {class: crashes}, notices, interrupted,
//	             coverage {phases {phase: crashes}, sync_points, files[{name, size, states}], value_sizes}
//	matrix[]     crash_point, crash_type, durability, expectation, runs, hits, acked_verified, passed, failures[],
//	             reproduction, reproduce, duration_ns
//	iterations[] scenario, durability, index, recovery_ms, acked, promised, recovered, passed
//	violations[] scenario, durability, summary, detail, reproduction, reproduce, class
//	notices[]    findings that break no promise (class creation), as violations[]
//
// A class is acked-loss, phantom, torn-batch, unopenable, hang, broken
// (violations) or creation (a store that did not open after a crash during
// its first creation, nothing acknowledged: a notice unless the target
// declares itself creation safe); see crashtest.Class.
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
	Notices     []ViolationEntry `json:"notices,omitempty"`
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
	// Classes counts crashes per class of finding; Notices the findings
	// that break no promise; Interrupted the crashes left unjudged.
	Classes     crashtest.ClassCounts `json:"classes,omitempty"`
	Notices     int                   `json:"notices,omitempty"`
	Interrupted int                   `json:"interrupted,omitempty"`
	Coverage    *crashtest.Coverage   `json:"coverage,omitempty"`
}

func (s *Summary) addClasses(c crashtest.ClassCounts) {
	if len(c) == 0 {
		return
	}
	if s.Classes == nil {
		s.Classes = crashtest.ClassCounts{}
	}
	s.Classes.Merge(c)
}

func (s *Summary) addCoverage(c *crashtest.Coverage) {
	if c == nil {
		return
	}
	if s.Coverage == nil {
		s.Coverage = &crashtest.Coverage{}
	}
	s.Coverage.Merge(c)
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
	Class        crashtest.Class        `json:"class,omitempty"`
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
	sum := Summary{Scenario: sc.Name(), Durability: label, Runs: f.Runs, Unit: sc.Help().Unit,
		AckedVerified: f.AckedVerified, AckedLost: f.AckedLost, PermittedLoss: f.PermittedLoss, Violations: len(f.Violations),
		Seconds: took.Seconds(), Notices: len(f.Notices), Interrupted: f.Interrupted}
	sum.addClasses(f.Classes)
	sum.addCoverage(f.Coverage)
	r.Summary = append(r.Summary, sum)
	r.Matrix = append(r.Matrix, f.Cells...)
	for _, x := range f.Samples {
		r.Iterations = append(r.Iterations, Point{Scenario: sc.Name(), Durability: label, Sample: x})
	}
	for _, v := range f.Violations {
		r.Violations = append(r.Violations, entry(sc, label, v))
	}
	for _, v := range f.Notices {
		r.Notices = append(r.Notices, entry(sc, label, v))
	}
}

func entry(sc crashtest.Scenario, label string, v crashtest.Violation) ViolationEntry {
	return ViolationEntry{Scenario: sc.Name(), Durability: label, Summary: v.Summary, Detail: v.Detail,
		Reproduction: v.Reproduction, Class: v.Class}
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
	for i := range r.Notices {
		r.Notices[i].Reproduce = format(r.Notices[i].Reproduction)
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
	r.writeClasses(w)
	for i, v := range r.Violations {
		fmt.Fprintf(w, "\nVIOLATION %d (%s, %s%s): %s\n%s\n  reproduce: %s\n", i+1, v.Scenario, v.Durability, classText(v.Class), v.Summary, indent(v.Detail), v.Reproduce)
	}
	for i, v := range r.Notices {
		if i == 3 {
			fmt.Fprintf(w, "\n... %d more notices (in the JSON report)\n", len(r.Notices)-i)
			break
		}
		fmt.Fprintf(w, "\nNOTICE %d (%s, %s%s, not a violation): %s\n%s\n  reproduce: %s\n", i+1, v.Scenario, v.Durability, classText(v.Class), v.Summary, indent(v.Detail), v.Reproduce)
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

func classText(c crashtest.Class) string {
	if c == "" {
		return ""
	}
	return ", " + string(c)
}

// writeClasses writes, for each summary row that classified its findings
// or measured its coverage, the crashes per class (violations and notices
// apart), the crashes left unjudged, and what the crashes touched.
func (r *Report) writeClasses(w io.Writer) {
	for _, s := range r.Summary {
		if len(s.Classes) == 0 && s.Interrupted == 0 && s.Coverage == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %s: %s\n", s.Scenario, s.Durability, classLine(s))
		if c := s.Coverage; c != nil {
			fmt.Fprintf(w, "  coverage: %s\n", coverageLine(c))
		}
	}
}

func classLine(s Summary) string {
	var parts []string
	for _, c := range s.Classes.Sorted() {
		note := ""
		if c == crashtest.ClassCreation {
			note = " (not a violation unless the target is creation safe)"
		}
		parts = append(parts, fmt.Sprintf("%s %d%s", c, s.Classes[c], note))
	}
	if s.PermittedLoss > 0 {
		parts = append(parts, fmt.Sprintf("%d acknowledged writes lost that %s does not promise to keep (reported, not violations)", s.PermittedLoss, s.Durability))
	}
	if len(parts) == 0 {
		parts = append(parts, "no finding")
	}
	if s.Interrupted > 0 {
		parts = append(parts, fmt.Sprintf("%d %s interrupted (not judged)", s.Interrupted, s.Unit))
	}
	return strings.Join(parts, ", ")
}

func coverageLine(c *crashtest.Coverage) string {
	var parts []string
	for _, p := range []string{"create", "write", "close", "reopen", "recover", "end"} {
		parts = append(parts, fmt.Sprintf("%s %d", p, c.Phases[p]))
	}
	s := "phases " + strings.Join(parts, ", ")
	if c.SyncPoints > 0 {
		s += fmt.Sprintf("; %d sync points", c.SyncPoints)
	}
	if c.ValueSizes[1] > 0 {
		s += fmt.Sprintf("; values %d to %d bytes", c.ValueSizes[0], c.ValueSizes[1])
	}
	for i, f := range c.Files {
		if i == 8 {
			s += fmt.Sprintf(" ... %d more files", len(c.Files)-i)
			break
		}
		s += fmt.Sprintf("%s %s %d B, %d states", map[bool]string{true: "; files:", false: ","}[i == 0], f.Name, f.Size, f.States)
	}
	return s
}
