package lazyfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/vfs"
)

// Config configures Explore.
type Config struct {
	// Child starts in-mem's workload child, or with Target the executable
	// serving the target protocol (the recording and the states do not
	// depend on what runs, only the judge does).
	Child crashtest.Child
	// Target, if set, records a Target's key/value workload instead of
	// in-mem's, its lifecycle included, and judges it with the key/value
	// model: a configuration that is not power safe is reported
	// (Unpromised), not a violation.
	Target *proc.TargetWorkload
	Seed   uint64
	// Durability the child runs in, and the promise judged.
	Durability inmem.Durability
	// Expect, if set, is the promise judged instead: Buffered expected to
	// keep Strict's promise proves the explorer sees loss.
	Expect *inmem.Durability
	// Ops per writer (default 64); Writers in the child (default 1: the
	// seed fixes the operations); SegmentSize of the WAL (default 16 KiB,
	// so segments rotate).
	Ops         int
	Writers     int
	SegmentSize int64
	// ReopenEvery makes in-mem's child close the database cleanly and
	// open it again after every n operations (a Target's lifecycle is
	// Target.Lifecycle).
	ReopenEvery int
	// Policies are the crash policies of every crash point (default drop,
	// pages, reorder); States is how many seeds each seeded one gets per
	// point (default 1).
	Policies []vfs.CrashMode
	States   int
	// RandomPoints is how many crash points to draw at random moments of
	// the run, besides the two of every sync (right before it and right
	// after it) and the end (default 8; -1 for none).
	RandomPoints int
	// MaxStates, if positive, judges a seeded sample of at most that many
	// states (the end's among them).
	MaxStates int
	// At and Policy, if set, judge only the state after At changes under
	// Policy: a reproduction.
	At     *int
	Policy *vfs.CrashPolicy
	// Workers judge states in parallel (default 2).
	Workers int
	// Dir is scratch space (default the system's temporary directory).
	Dir string
	// Progress, if set, is called as states are judged.
	Progress func(done, total int)
	// Stop, if set, ends the exploration (after the states being judged)
	// once closed.
	Stop <-chan struct{}
}

func (c *Config) defaults() {
	c.Ops = cmp0(c.Ops, 64)
	c.Writers = cmp0(c.Writers, 1)
	c.SegmentSize = cmp0(c.SegmentSize, 16<<10)
	c.States = cmp0(c.States, 1)
	c.RandomPoints = cmp0(c.RandomPoints, 8)
	c.Workers = cmp0(c.Workers, 2)
	if len(c.Policies) == 0 {
		c.Policies = []vfs.CrashMode{vfs.DropUnsynced, vfs.RandomPages, vfs.ReorderUnsynced}
	}
}

func cmpStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func cmp0[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Result is what an exploration recorded and found.
type Result struct {
	Changes  int // filesystem operations the server logged (opens and closes among them)
	Syncs    int // file and directory syncs among them
	AckedOps int // acknowledged operations
	Points   int // crash points
	// StateTally counts the states judged and what they held; a state's
	// time is: build it, write it out, recover, judge.
	crashtest.StateTally
	Violations []Violation
	// Notices are states with findings that break no promise (a Target
	// that did not open after a crash during its creation).
	Notices    []Violation
	RecordTime time.Duration // running the workload on the mount
	Duration   time.Duration
}

// Violation is one crash state whose recovery broke a promise; Seed, At
// and Policy rebuild it.
type Violation struct {
	Seed       uint64
	At         int    // the crash came after this many logged operations
	LastOp     string // the one right before it
	Policy     vfs.CrashPolicy
	Required   string // what the state had to hold
	Err        error  // the database did not open
	Mismatches []crashtest.StateMismatch
	Fates      []vfs.Fate // what the policy did with every unsynced change
	// Classes are the classes of what broke (a Target's); Phase is the
	// lifecycle phase the crash point fell in.
	Classes []crashtest.Class
	Phase   string
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, crash after operation %d (%s), policy %s\n  required: %s\n", v.Seed, v.At, v.LastOp,
		v.Policy.Spec(), v.Required)
	if v.Phase != "" || len(v.Classes) > 0 {
		fmt.Fprintf(&b, "  phase %s, classes %v\n", cmpStr(v.Phase, "-"), v.Classes)
	}
	if v.Err != nil {
		fmt.Fprintf(&b, "  recovery failed: %v\n", v.Err)
	}
	crashtest.WriteMismatches(&b, v.Mismatches)
	crashtest.WriteFates(&b, v.Fates)
	return strings.TrimRight(b.String(), "\n")
}

// Explore runs in-mem's workload child to its end on a lazy mount that
// logs every change it serves, in order, with every acknowledgement
// stamped by the log's length. It then builds, from that log alone, the
// crash states of every crash point (right before and right after every
// file or directory sync, at random moments, at the end) under every
// policy, with vfs.MemFS, and judges each with a recovery: every commit
// acknowledged before the crash point (Strict; Buffered: covered by a
// completed sync) must be there, and the state must be a prefix of the
// history. One mount serves the whole run; no state is mounted.
//
// It needs FUSE (see Available).
func Explore(cfg Config) (res *Result, err error) {
	cfg.defaults()
	start := time.Now()
	scratch, err := os.MkdirTemp(cfg.Dir, "inmem-lazy-")
	if err != nil {
		return nil, err
	}
	defer func() { err = joinErr(err, os.RemoveAll(scratch)) }()
	rec, err := record(cfg, scratch)
	if err != nil {
		return nil, err
	}
	res = &Result{Changes: len(rec.ops), AckedOps: rec.judge.Acked(), RecordTime: rec.took,
		StateTally: crashtest.NewStateTally()}
	for _, op := range rec.ops {
		if op.IsSync() {
			res.Syncs++
		}
	}
	if cfg.At != nil && (*cfg.At < 0 || *cfg.At > len(rec.ops)) {
		return nil, &crashtest.SettingError{Name: "at", Value: fmt.Sprint(*cfg.At),
			Want: fmt.Sprintf("want 0 to %d: the workload's run has %d operations", len(rec.ops), len(rec.ops))}
	}
	states := planStates(cfg, rec.ops)
	res.Points = countPoints(states)
	if err := judgeStates(cfg, rec, states, res); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

func joinErr(err, more error) error {
	if err != nil {
		return err
	}
	return more
}

// recording is a workload's run on the mount.
type recording struct {
	ops   []fsrecord.Op
	judge *proc.Recording
	took  time.Duration
}

// state is one crash state: after the first at operations, under policy.
type state struct {
	at     int
	policy vfs.CrashPolicy
}

// planStates lists the crash states: every point under every policy.
func planStates(cfg Config, ops []fsrecord.Op) []state {
	if cfg.At != nil && cfg.Policy != nil {
		return []state{{*cfg.At, *cfg.Policy}}
	}
	var states []state
	for _, at := range crashPoints(cfg, ops) {
		for _, p := range pointPolicies(cfg, at) {
			states = append(states, state{at, p})
		}
	}
	return sample(cfg, states)
}

// crashPoints are right before and right after every sync, random
// moments, and the end (or At alone).
func crashPoints(cfg Config, ops []fsrecord.Op) []int {
	if cfg.At != nil {
		return []int{*cfg.At}
	}
	pts := []int{len(ops)}
	var changes []int // right after each operation that changes something
	for i, op := range ops {
		if op.IsSync() {
			pts = append(pts, i, i+1)
		}
		if op.Changes() {
			changes = append(changes, i+1)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1a2f))
	for range max(cfg.RandomPoints, 0) {
		if len(changes) > 0 {
			pts = append(pts, changes[rng.IntN(len(changes))])
		}
	}
	slices.Sort(pts)
	return slices.Compact(pts)
}

func pointPolicies(cfg Config, at int) []vfs.CrashPolicy {
	var ps []vfs.CrashPolicy
	for _, m := range cfg.Policies {
		if !m.Seeded() {
			ps = append(ps, vfs.CrashPolicy{Mode: m})
			continue
		}
		for i := range cfg.States {
			ps = append(ps, vfs.CrashPolicy{Mode: m, Seed: cfg.Seed*7919 + uint64(at)*131 + uint64(i)})
		}
	}
	return ps
}

// sample applies MaxStates: a seeded sample, the last state among it.
func sample(cfg Config, states []state) []state {
	if cfg.MaxStates <= 0 || len(states) <= cfg.MaxStates {
		return states
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5a3e))
	idx := append(rng.Perm(len(states) - 1)[:cfg.MaxStates-1], len(states)-1)
	slices.Sort(idx)
	out := make([]state, len(idx))
	for i, k := range idx {
		out[i] = states[k]
	}
	return out
}

func countPoints(states []state) int {
	n := 0
	for i, s := range states {
		if i == 0 || s.at != states[i-1].at {
			n++
		}
	}
	return n
}

// job is one state to judge, built.
type job struct {
	state
	fs *vfs.MemFS
}

// outcome is the judgement of one state.
type outcome struct {
	job
	verdict proc.StateVerdict
	fatal   error
	took    time.Duration
}

// judgeStates builds the states in order (one replay of the log) and
// judges them on cfg.Workers workers.
func judgeStates(cfg Config, rec *recording, states []state, res *Result) error {
	dirs, cleanup, err := stateDirs(cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	jobs, outcomes := make(chan job, 2*cfg.Workers), make(chan outcome, 2*cfg.Workers)
	var wg sync.WaitGroup
	for _, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				outcomes <- judgeState(rec, dir, j)
			}
		}()
	}
	var genErr error
	go func() {
		genErr = buildStates(cfg, rec.ops, states, jobs)
		close(jobs)
		wg.Wait()
		close(outcomes)
	}()
	var fatal error
	for o := range outcomes {
		fatal = joinErr(fatal, o.fatal)
		res.add(cfg, rec, o)
		if cfg.Progress != nil {
			cfg.Progress(res.States, len(states))
		}
	}
	return joinErr(genErr, fatal)
}

// buildStates replays the log once, crashing it at every state's point.
func buildStates(cfg Config, ops []fsrecord.Op, states []state, jobs chan<- job) error {
	rp := fsrecord.NewReplayer(nil, ops)
	for _, s := range states {
		if err := rp.Advance(s.at); err != nil {
			return err
		}
		select {
		case jobs <- job{s, rp.FS().Crash(s.policy)}:
		case <-cfg.Stop:
			return nil
		}
	}
	return nil
}

// stateDirs makes a directory per worker for the states to be written
// into, in memory (/dev/shm) where there is one.
func stateDirs(cfg Config) ([]string, func(), error) {
	parent := cfg.Dir
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		parent = "/dev/shm"
	}
	root, err := os.MkdirTemp(parent, "inmem-lazy-states-")
	if err != nil {
		root, err = os.MkdirTemp(cfg.Dir, "inmem-lazy-states-")
	}
	if err != nil {
		return nil, nil, err
	}
	dirs := make([]string, cfg.Workers)
	for i := range dirs {
		dirs[i] = filepath.Join(root, fmt.Sprint(i))
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			os.RemoveAll(root)
			return nil, nil, err
		}
	}
	return dirs, func() { os.RemoveAll(root) }, nil
}

// judgeState writes the state into dir (only what differs from the last
// state there) and recovers and judges it.
func judgeState(rec *recording, dir string, j job) outcome {
	start := time.Now()
	if err := storeBacking(j.fs, dir); err != nil {
		return outcome{job: j, fatal: fmt.Errorf("crashtest: writing out crash state %d/%s: %w", j.at, j.policy.Spec(), err)}
	}
	v := rec.judge.Judge(filepath.Join(dir, "db"), uint64(j.at))
	return outcome{job: j, verdict: v, took: time.Since(start)}
}

func (r *Result) add(cfg Config, rec *recording, o outcome) {
	if o.fatal != nil {
		return
	}
	if o.verdict.Interrupted {
		r.Interrupted++
		return
	}
	r.States++
	r.StateTime += o.took
	r.AckedChecked += o.verdict.Acked
	if o.verdict.Unpromised {
		r.Unpromised++
		r.PermittedLoss += o.verdict.UnpromisedLost
	}
	r.Classes.Add(o.verdict.Classes)
	phase := rec.judge.Phase(uint64(o.at))
	if phase != "" {
		r.Coverage.Merge(&crashtest.Coverage{Phases: map[string]int{phase: 1}})
	}
	broke := o.verdict.Err != nil || len(o.verdict.Mismatches) > 0
	if !broke && len(o.verdict.Notices) == 0 {
		return
	}
	last := "the start"
	if o.at > 0 {
		last = rec.ops[o.at-1].String()
	}
	v := Violation{Seed: cfg.Seed, At: o.at, LastOp: last, Policy: o.policy,
		Required: rec.judge.Required(uint64(o.at)), Err: o.verdict.Err, Mismatches: o.verdict.Mismatches,
		Classes: o.verdict.Classes, Phase: phase}
	if !broke {
		v.Mismatches = o.verdict.Notices
		r.Notices = append(r.Notices, v)
		return
	}
	v.Fates = fates(rec.ops, o.state)
	r.Violations = append(r.Violations, v)
}

// fates rebuilds a violating state to say what its policy did with every
// unsynced change (only violations pay for it).
func fates(ops []fsrecord.Op, s state) []vfs.Fate {
	rp := fsrecord.NewReplayer(nil, ops)
	if err := rp.Advance(s.at); err != nil {
		return []vfs.Fate{{Op: "replay", Outcome: err.Error()}}
	}
	_, f := rp.FS().CrashFates(s.policy)
	return f
}
