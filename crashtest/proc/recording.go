package proc

import (
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// RecordConfig configures Record: a workload child run to its end on a
// filesystem that can rebuild the disk at any moment of the run (package
// kernel's barrier explorer records the block writes ext4 sends down).
type RecordConfig struct {
	Child crashtest.Child
	// Dir is the database (or store) directory, on the recorded filesystem.
	Dir  string
	Seed uint64
	// Durability the in-mem child runs in, and the promise judged.
	Durability inmem.Durability
	// Expect, if set, is the promise judged instead: Buffered expected to
	// keep Strict's promise proves the judge sees loss.
	Expect *inmem.Durability
	// Ops per writer: the child runs them all and closes the database.
	Ops         int
	Writers     int // default 1: the same seed issues the same operations
	SegmentSize int64
	// Target, if set, runs a Target's key/value workload instead of in-mem's.
	Target *TargetWorkload
	// Clock stamps every acknowledgement as it arrives: a state whose clock
	// is n must hold every acknowledgement stamped n or less (as the mode
	// promises).
	Clock func() uint64
	// AckPipe, if set, makes the acknowledgement pipe (the reader's end,
	// the child's end): a pipe whose writes the recorded filesystem stamps
	// in order with its own writes.
	AckPipe func() (r, w *os.File, err error)
	// Now, if set, reads the clock without stamping anything: when a
	// Target's lifecycle phases begin.
	Now func() uint64
	// Limit bounds the child's run (default 2 minutes): a child still
	// running then is hung, and is killed.
	Limit time.Duration
	// Stop, if set, interrupts the judging of crash states once closed:
	// a state judged meanwhile is Interrupted, not a violation.
	Stop <-chan struct{}
	// ReopenEvery makes in-mem's child close the database cleanly and open
	// it again after every n operations (see Lifecycle); a Target's
	// lifecycle is its own (TargetWorkload.Lifecycle).
	ReopenEvery int
}

// Recording is a workload child's whole run and the judge of the crash
// states it can leave: what a state at a clock value must hold, and whether
// a recovered state holds it.
type Recording struct {
	acked    int
	required func(clock uint64) string
	judge    func(dir string, clock uint64) StateVerdict
	phase    func(clock uint64) string
	coverage *crashtest.Coverage
}

// StateVerdict is the judgement of one crash state.
type StateVerdict struct {
	Acked      int // acknowledged operations the state had to hold and held
	Mismatches []crashtest.StateMismatch
	// Unpromised: the state lost acknowledged puts of a Target
	// configuration that promises nothing under a power loss (reported,
	// not a violation).
	Unpromised bool
	// UnpromisedLost counts the acknowledged writes it lost that its
	// configuration did not promise to keep.
	UnpromisedLost int
	Err            error // the state did not open
	// Classes are the classes of what the state broke or showed (a
	// Target's); Notices the findings that break no promise.
	Classes []crashtest.Class
	Notices []crashtest.StateMismatch
	// Interrupted: the campaign stopped while the state was judged.
	Interrupted bool
}

// Phase returns the lifecycle phase a crash state at clock fell in
// (create, write, close, reopen, recover, end; "" where unknown).
func (r *Recording) Phase(clock uint64) string {
	if r.phase == nil {
		return ""
	}
	return r.phase(clock)
}

// Coverage returns what the recorded workload covered (nil: unknown).
func (r *Recording) Coverage() *crashtest.Coverage { return r.coverage }

// Acked returns the number of acknowledged operations (puts for a Target).
func (r *Recording) Acked() int { return r.acked }

// Required says what a crash state at clock must hold.
func (r *Recording) Required(clock uint64) string { return r.required(clock) }

// Judge recovers the database in dir, a crash state at clock, and judges it.
func (r *Recording) Judge(dir string, clock uint64) StateVerdict { return r.judge(dir, clock) }

// Record runs the workload child to its end and returns its recording.
// in-mem's own child prepares its log's segments inline
// (inmem.PrepareInline), so that a rerun makes the same file operations.
func Record(cfg RecordConfig) (*Recording, error) {
	cfg.Writers = max(cfg.Writers, 1)
	if cfg.Limit <= 0 {
		cfg.Limit = 2 * time.Minute
	}
	if cfg.Target != nil {
		return recordTarget(cfg)
	}
	pt := NewProcessCrashTester(cfg.Child.Binary, cfg.Dir, ProcessCrashConfig{Seed: cfg.Seed, Durability: cfg.Durability,
		Writers: cfg.Writers, SegmentSize: cfg.SegmentSize, Args: cfg.Child.Args, Env: cfg.Child.Env})
	pt.env.clock, pt.env.ackPipe = cfg.Clock, cfg.AckPipe
	cc := ChildConfig{Dir: cfg.Dir, Seed: cfg.Seed, Writers: cfg.Writers, Ops: cfg.Ops, Durability: cfg.Durability,
		SegmentSize: pt.cfg.SegmentSize, ReopenEvery: cfg.ReopenEvery, Preparation: inmem.PrepareInline}
	run, err := pt.runChild(cc.args(), syscall.SIGKILL, cfg.Limit, 0)
	if err != nil {
		return nil, err
	}
	if run.status != "exit 0" || len(run.badLines) > 0 {
		return nil, fmt.Errorf("crashtest: the recorded workload child failed (%s, %d bad lines): %s", run.status, len(run.badLines), run.stderr)
	}
	var r KillIterationResult
	pt.record(run, cc, &r)
	promise := cfg.Durability
	if cfg.Expect != nil {
		promise = *cfg.Expect
	}
	return inmemRecording(pt.model, run, cc, promise), nil
}

// inmemJudge judges in-mem crash states against the whole history: the
// state must be a prefix of it, holding at least what was promised by the
// state's clock.
type inmemJudge struct {
	model       *crashtest.ReferenceModel
	durability  inmem.Durability // the child's
	promise     inmem.Durability // judged (the child's, unless expected otherwise)
	segmentSize int64
	timeline    []promisePoint
}

// promisePoint is what was promised once the clock reached at.
type promisePoint struct {
	at     uint64
	acked  inmem.Version // the highest acknowledged version (Strict)
	synced inmem.Version // the highest version a completed sync covered (Buffered)
}

func inmemRecording(m *crashtest.ReferenceModel, run *childRun, cc ChildConfig, promise inmem.Durability) *Recording {
	j := &inmemJudge{model: m, durability: cc.Durability, promise: promise, segmentSize: cc.SegmentSize}
	kinds := childOpKinds(cc)
	syncs := newSyncTracker(0)
	var p promisePoint
	for i, l := range run.lines {
		if l.kind == 'L' && l.text == "close" && i < len(run.at) {
			p.synced, p.at = max(p.synced, l.version), run.at[i]
			j.timeline = append(j.timeline, p)
		}
		if l.kind == 'R' || l.kind == 'K' || l.kind == 'L' || i >= len(run.at) {
			continue
		}
		k := kinds(l.writer, l.op)
		if l.kind == 'A' && l.version != 0 {
			p.acked = max(p.acked, l.version)
		}
		if v, ok := syncs.observe(l, k == crashtest.OpFlush || k == crashtest.OpCheckpoint); ok {
			p.synced = max(p.synced, v)
		}
		p.at = run.at[i]
		j.timeline = append(j.timeline, p)
	}
	return &Recording{acked: ackedUpTo(m, m.Latest()), required: j.requiredText, judge: j.judge, phase: childPhases(run)}
}

// childPhases returns the lifecycle phase of in-mem's child at a clock:
// create until its R line, close from an "L closing" to the "L close"
// after it, reopen from there to the "L open", end after its last line,
// write otherwise.
func childPhases(run *childRun) func(uint64) string {
	var marks []phaseMark
	for i, l := range run.lines {
		if i >= len(run.at) {
			break
		}
		switch {
		case l.kind == 'R':
			marks = append(marks, phaseMark{at: run.at[i], phase: "write"})
		case l.kind == 'L' && l.text == "closing":
			marks = append(marks, phaseMark{at: run.at[i], phase: "close"})
		case l.kind == 'L' && l.text == "close":
			marks = append(marks, phaseMark{at: run.at[i], phase: "reopen"})
		case l.kind == 'L':
			marks = append(marks, phaseMark{at: run.at[i], phase: "write"})
		}
	}
	end := uint64(0)
	if n := len(run.at); n > 0 {
		end = run.at[n-1]
	}
	return func(at uint64) string {
		if at > end && len(marks) > 0 {
			return "end"
		}
		p := "create"
		for _, m := range marks {
			if m.at > at {
				break
			}
			p = m.phase
		}
		return p
	}
}

// childOpKinds returns the kind of op k of writer w of the workload child,
// regenerated from the seed as record does.
func childOpKinds(cc ChildConfig) func(w, k int) crashtest.OpKind {
	cfg := crashtest.WorkloadConfig{Seed: iterationSeed(cc.Seed, cc.Iteration)}
	gens := map[int]*crashtest.Generator{}
	kinds := map[[2]int]crashtest.OpKind{}
	return func(w, k int) crashtest.OpKind {
		g := gens[w]
		if g == nil {
			g = crashtest.NewGenerator(cfg, uint64(w), "")
			gens[w] = g
		}
		for g.Count() < k {
			kinds[[2]int{w, g.Count() + 1}] = g.Next().Kind
		}
		return kinds[[2]int{w, k}]
	}
}

// required returns the version a state at clock n must hold.
func (j *inmemJudge) required(n uint64) inmem.Version {
	i := sort.Search(len(j.timeline), func(i int) bool { return j.timeline[i].at > n }) - 1
	if i < 0 {
		return 0
	}
	switch j.promise {
	case inmem.Buffered:
		return j.timeline[i].synced
	case inmem.InMemory:
		return 0
	}
	return j.timeline[i].acked
}

func (j *inmemJudge) requiredText(n uint64) string {
	what := "acknowledged"
	if j.promise == inmem.Buffered {
		what = "covered by a completed sync"
	}
	return fmt.Sprintf("%s: every commit up to v%d, %s before the state's last barrier", j.promise, j.required(n), what)
}

func (j *inmemJudge) judge(dir string, n uint64) StateVerdict {
	req := j.required(n)
	d := j.durability
	if d == inmem.InMemory {
		d = inmem.Strict
	}
	db, err := inmem.Open(dir, &inmem.Options{Durability: d, SegmentSize: j.segmentSize})
	if err != nil {
		return StateVerdict{Err: fmt.Errorf("recovery: %w", err)}
	}
	v := j.model.Judge(db, crashtest.Promise{Durability: j.promise, Crash: crashtest.PowerLoss, Upto: &req})
	for i, mm := range v.Mismatches {
		if mm.Entity == "durability" {
			v.Mismatches[i].Expected = j.requiredText(n)
			v.Mismatches[i].Actual = fmt.Sprintf("recovered up to v%d: %d acknowledged commits up to v%d missing",
				v.Recovered, ackedUpTo(j.model, req)-ackedUpTo(j.model, v.Recovered), req)
		}
	}
	ms := append(v.Mismatches, crashtest.ProbeNext(db)...)
	if err := db.Close(); err != nil {
		ms = append(ms, crashtest.StateMismatch{Entity: "close", Expected: "a clean close after recovery", Actual: err.Error()})
	}
	return StateVerdict{Acked: ackedUpTo(j.model, min(req, db.LastVersion())), Mismatches: ms}
}

// ackedUpTo counts the acknowledged write operations at or below v.
func ackedUpTo(m *crashtest.ReferenceModel, v inmem.Version) int {
	n := 0
	for _, op := range m.Ops() {
		if op.Kind == crashtest.OpWrite && op.Status == crashtest.Acked && op.Version != 0 && op.Version <= v {
			n++
		}
	}
	return n
}
