package crashtest

import (
	"context"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// Scenario is one way of attacking a database: crashing it at its crash
// points, killing it, cutting its power, failing its I/O, damaging its
// files. Each fault package (proc, powerloss, ioerr, corrupt, matrix,
// kernel) implements one; package campaign lists them in its registry, and
// from there they reach `inmem crash NAME`, `inmem crash all` and the
// report without any other code knowing them.
//
// A campaign calls Check before any work, then Run once per durability
// mode (once in all, see DurabilityFree). Run writes what it found into
// s.Found as it goes, so that an interrupted scenario still reports what
// it did.
type Scenario interface {
	// Name is how campaigns, reports and reproductions name it: one
	// lower-case word.
	Name() string
	// Help says what it does, for people.
	Help() Help
	// Params are its own settings beyond the Session's, with defaults.
	Params() []Param
	// Check refuses settings the scenario cannot run with (each value
	// has passed its Param's check already): a *SettingError.
	Check(s Settings) error
	// Run does the work of one durability mode within the session's
	// budget. It returns early, with a nil error, once ctx is done. The
	// error is for failures of the harness itself; broken promises are
	// Violations in s.Found.
	Run(ctx context.Context, s *Session) error
}

// DurabilityFree is implemented by a scenario whose settings can make the
// durability mode meaningless (a Target's own configuration says what is
// promised): a campaign then runs it once, under the first mode.
type DurabilityFree interface {
	IgnoresDurability(s Settings) bool
}

// Conditional is implemented by a scenario that runs only where the
// machine has what it needs (FUSE, say). A campaign given no list of
// scenarios runs it, if its Help says InAll, only where Unavailable
// returns nil, and says why it did not otherwise.
type Conditional interface {
	// Unavailable says what this machine lacks, or nil.
	Unavailable() error
}

// Help describes a scenario.
type Help struct {
	Short string // one line
	Long  string // paragraphs, without the settings (Params say those)
	// Unit is what one run is, in the summary: "crashes", "kills",
	// "crash states", ...
	Unit string
	// InAll: `inmem crash all` and a campaign without a scenario list run
	// it (a Conditional scenario only where it is available). Scenarios
	// that need root or hardware say no.
	InAll bool
	// Budget is its time budget when run alone.
	Budget time.Duration
}

// Child is how to start the workload child of the scenarios that run real
// processes: `inmem crash child` (Args "crash", "child"), or a test
// binary whose TestMain calls proc.ChildMain (Env proc.ChildEnv=1).
type Child struct {
	Binary string
	Args   []string // before the child's own flags
	Env    []string // added to the environment
}

// Session is one run of a scenario: its settings, its budget, where its
// scratch space is, and where its findings go.
type Session struct {
	Scenario   string
	Seed       uint64
	Shard      int // this shard, 0-based
	Shards     int // how many shards the campaign is split into (at least 1)
	Durability inmem.Durability
	// Iterations, if positive, is a fixed amount of work (workloads,
	// kills, damaged databases); otherwise the scenario works until
	// Deadline.
	Iterations int
	Deadline   time.Time
	// Dir is scratch space of the scenario's own; the campaign removes it
	// afterwards.
	Dir   string
	Child Child
	// TargetChild is how to start a target child that serves in-mem's own
	// key/value Targets (crashtest.InmemTargets, through proc.TargetMain):
	// `inmem crash target-child`.
	TargetChild Child
	Settings    Settings
	// Plant, if set, is a test seam: it changes every database the scenario
	// opens in this process (see Planted), to plant a bug and prove the
	// scenario reports it. Child processes take theirs through
	// proc.ChildOption.
	Plant func(*inmem.Options)
	// Found collects what the scenario found.
	Found Findings
	// OnProgress, if set, is told about every finished unit of work.
	OnProgress func(Progress)
}

// More reports whether another unit of work should run after done units:
// a fixed count, or the budget (at least one unit always runs).
func (s *Session) More(ctx context.Context, done int) bool {
	if ctx.Err() != nil {
		return false
	}
	if s.Iterations > 0 {
		return done < s.Iterations
	}
	return done == 0 || time.Now().Before(s.Deadline)
}

// Unit returns the index of this shard's done-th unit of work: units are
// dealt to shards in turn, so every shard reruns alone.
func (s *Session) Unit(done int) int { return s.Shard + done*max(s.Shards, 1) }

// Mine reports whether unit i belongs to this shard.
func (s *Session) Mine(i int) bool { return i%max(s.Shards, 1) == s.Shard }

// ShardSeed is the seed of a shard's work that cannot be dealt by units
// (the kill campaign, whose iterations share one directory).
func (s *Session) ShardSeed() uint64 { return s.Seed + uint64(s.Shard)*1_000_003 }

// Reproduction returns the reproduction of one unit of this session: the
// scenario, the seed that unit ran with, one iteration, this durability,
// and the given settings.
func (s *Session) Reproduction(seed uint64, params ...Setting) Reproduction {
	return Reproduction{Scenario: s.Scenario, Seed: seed, Durability: s.Durability.String(), Iterations: 1, Params: params}
}

// Planted returns o as plant changes it (see Session.Plant): o.FS is set,
// to vfs.OS if it was nil, before plant sees it. A nil plant changes
// nothing.
func Planted(o inmem.Options, plant func(*inmem.Options)) *inmem.Options {
	if plant != nil {
		if o.FS == nil {
			o.FS = vfs.OS
		}
		plant(&o)
	}
	return &o
}

// Replayable returns o with the log's segments prepared inline
// (inmem.PrepareInline) where it left them to the background: the file
// operations and crash point hits of a workload then come in an order the
// workload alone decides, so that a crash state rebuilt from its operation
// or hit number is the one first judged. Another explicit choice stays.
func Replayable(o inmem.Options) inmem.Options {
	if o.Preparation == inmem.PrepareBackground {
		o.Preparation = inmem.PrepareInline
	}
	return o
}

// Violation records a broken promise.
func (s *Session) Violation(v Violation) { s.Found.Violations = append(s.Found.Violations, v) }

// Notice records a finding that breaks no promise (see Findings.Notices).
func (s *Session) Notice(v Violation) { s.Found.Notices = append(s.Found.Notices, v) }

// Progress reports a finished unit of work (total 0: on a time budget).
func (s *Session) Progress(done, total int, note string) {
	if s.OnProgress != nil {
		s.OnProgress(Progress{Scenario: s.Scenario, Durability: s.Found.label(s.Durability), Done: done, Total: total,
			Violations: len(s.Found.Violations), Note: note})
	}
}

// Progress is one finished unit of work of a scenario.
type Progress struct {
	Scenario   string
	Durability string
	Done       int
	Total      int // 0 when the scenario runs on a time budget
	Violations int
	Note       string
}

// Findings is what a scenario found: how much it judged, what broke, and
// what the report draws.
type Findings struct {
	// Label replaces the durability in reports ("bbolt" for a Target).
	Label string
	// Runs counts units of Help.Unit judged.
	Runs int
	// AckedVerified counts acknowledged operations found intact, summed
	// over runs; AckedLost those missing though promised (every one is
	// part of a violation); PermittedLoss those missing that nothing
	// promised to keep (Buffered after a power loss, before its last sync;
	// a Target configuration that is not power safe).
	AckedVerified int
	AckedLost     int
	PermittedLoss int
	Violations    []Violation
	// Notices are findings that break no promise: a store that did not
	// open after a crash during its first creation, with nothing
	// acknowledged (ClassCreation, for a target that does not declare
	// itself creation safe).
	Notices []Violation
	// Classes counts crashes (or crash states) per class of finding,
	// violations and notices alike.
	Classes ClassCounts
	// Interrupted counts crashes whose judgement the campaign's stop cut
	// short: neither passed nor violations.
	Interrupted int
	// Coverage says what the crashes touched (nil: not measured).
	Coverage *Coverage
	Cells    []Cell   // matrix cells
	Samples  []Sample // chart points
}

// Count books one judged crash's classes: each counted once.
func (f *Findings) Count(classes []Class) {
	if len(classes) == 0 {
		return
	}
	if f.Classes == nil {
		f.Classes = ClassCounts{}
	}
	f.Classes.Add(classes)
}

// Cover merges what one run touched into the findings' coverage.
func (f *Findings) Cover(c *Coverage) {
	if c == nil {
		return
	}
	if f.Coverage == nil {
		f.Coverage = &Coverage{}
	}
	f.Coverage.Merge(c)
}

func (f *Findings) label(d inmem.Durability) string {
	if f.Label != "" {
		return f.Label
	}
	return d.String()
}

// Violation is one broken promise, found by any scenario, with the values
// that rerun it.
type Violation struct {
	Summary      string // one line: where it crashed and how
	Detail       string // what broke: entities, expected and actual values
	Reproduction Reproduction
	// Class is the worst class of what broke ("" where the scenario does
	// not classify: in-mem's own reference model judges one way).
	Class Class
}

// Reproduction is how to rerun one failure: the scenario, its seed and
// settings. The command line formats it as a command and parses that
// command back into the same values.
type Reproduction struct {
	Scenario   string    `json:"scenario"`
	Seed       uint64    `json:"seed"`
	Durability string    `json:"durability,omitempty"`
	Iterations int       `json:"iterations,omitempty"`
	Params     []Setting `json:"params,omitempty"`
}

// Setting is one named value of a reproduction; a list setting repeats
// its name.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Cell is one cell of the crash matrix: a crash point (or, for crashes at
// no named point, what they crash at) under one crash kind and
// durability, with its expected result and whether it held.
type Cell struct {
	Point         string        `json:"crash_point"`
	Kind          string        `json:"crash_type"`
	Durability    string        `json:"durability"`
	Expectation   string        `json:"expectation"`
	Runs          int           `json:"runs"`
	Hits          int           `json:"hits"` // runs in which the crash point fired
	AckedVerified int           `json:"acked_verified"`
	Passed        bool          `json:"passed"`
	Failures      []string      `json:"failures,omitempty"`
	Reproduction  Reproduction  `json:"reproduction"`
	Reproduce     string        `json:"reproduce"` // the command, as the command line formats Reproduction
	Duration      time.Duration `json:"duration_ns"`
}

// Sample is one point of a report's charts: one crash (or one workload's
// crash states, averaged) and what its recovery kept.
type Sample struct {
	Index      int     `json:"index"`
	RecoveryMs float64 `json:"recovery_ms"`
	// Acked is how much was acknowledged before the crash, Promised how
	// much of it the promise required, Recovered how much was found: the
	// highest versions (kill), or acknowledged operations averaged over a
	// workload's crash states (powerloss). Recovered below Acked is a loss:
	// permitted down to Promised (Buffered after a power loss), a
	// violation below it.
	Acked     uint64 `json:"acked"`
	Promised  uint64 `json:"promised"`
	Recovered uint64 `json:"recovered"`
	Passed    bool   `json:"passed"`
}
