package powerloss

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/internal/fsrecord"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// Config configures a systematic crash-state exploration.
type Config struct {
	// Workload is what runs; Seed and Ops matter most.
	Workload crashtest.WorkloadConfig
	// Durability is the mode the database runs in and is judged by.
	Durability inmem.Durability
	// Policies are the crash policies to build at every crash point: drop
	// (only synced data survives), keep (a process crash) and random.
	Policies []vfs.CrashMode
	// RandomStates is how many random states (seeds) to build per crash
	// point for the random policy. Default 4.
	RandomStates int
	// EveryOperation crashes after every filesystem operation that changes
	// something, not only around syncs. Exhaustive; for small workloads.
	EveryOperation bool
	// Workers recover and judge states in parallel. Default GOMAXPROCS.
	Workers int
	// Options are further database options (SegmentSize, codec, ...).
	Options inmem.Options
	// Plant, if set, changes every database the exploration opens, the
	// workload's and every recovery (see crashtest.Session.Plant).
	Plant func(*inmem.Options)
	// Progress, if set, is called as states are judged.
	Progress func(done, total int)
	// Stop, if set, ends the exploration (after the states being judged)
	// once closed.
	Stop <-chan struct{}
	// Only, if set, explores only crash states after this many filesystem
	// operations (an exact reproduction). Beyond the workload's operations
	// it is a *crashtest.SettingError.
	Only *int
	// OnlyPolicy, with Only, restricts to one policy.
	OnlyPolicy *vfs.CrashPolicy
}

// Result summarizes an exploration.
type Result struct {
	Ops          int // operations of the workload
	AckedOps     int // acknowledged write operations
	FSOps        int // filesystem operations recorded
	CrashPoints  int // points in the filesystem history crashed at
	States       int // crash states recovered and judged
	AckedChecked int // acknowledged operations checked present, summed over states
	Violations   []Violation
	Duration     time.Duration
	RecoveryTime time.Duration // summed over states
	// AckedAtCrash and Promised sum, over states, the acknowledged write
	// operations issued before the crash and those of them the promise
	// required: what the report's charts draw beside AckedChecked.
	AckedAtCrash int
	Promised     int
	// AckedLost sums, over states, the promised acknowledged operations
	// missing (each state with one is a violation).
	AckedLost int
}

// Violation is one crash state whose recovery broke a promise: the seed,
// the crash point (OpIndex) and the policy rebuild it exactly.
type Violation struct {
	Seed        uint64
	OpIndex     int    // the crash came after this many filesystem operations
	LastOp      string // the operation right before the crash
	Policy      vfs.CrashPolicy
	Fates       []string // what the policy kept, dropped or tore
	RecoveryErr error
	Mismatches  []crashtest.StateMismatch
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, crash after filesystem operation %d (%s), policy %s\n", v.Seed, v.OpIndex, v.LastOp, v.Policy)
	if v.RecoveryErr != nil {
		fmt.Fprintf(&b, "  recovery failed: %v\n", v.RecoveryErr)
	}
	crashtest.WriteMismatches(&b, v.Mismatches)
	crashtest.WriteFates(&b, v.Fates)
	return strings.TrimRight(b.String(), "\n")
}

const exploreDir = "/db"

func (c *Config) defaults() {
	if len(c.Policies) == 0 {
		c.Policies = []vfs.CrashMode{vfs.DropUnsynced, vfs.KeepUnsynced, vfs.RandomUnsynced}
	}
	if c.RandomStates <= 0 {
		c.RandomStates = 4
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
}

// Explore runs the workload once on a recording filesystem, then, for every
// crash point of its filesystem history (around every sync, or after every
// operation), builds the crash state of each policy, recovers it and judges
// it with the reference model as it stood at that moment.
func Explore(cfg Config) (*Result, error) {
	cfg.defaults()
	start := time.Now()
	rec := fsrecord.New(nil)
	model := crashtest.NewReferenceModel()
	model.SetClock(rec.Clock)
	if err := runRecorded(cfg, rec, model); err != nil {
		return nil, err
	}
	log := rec.Log()
	res := &Result{Ops: len(model.Ops()), FSOps: len(log)}
	for _, op := range model.Ops() {
		if op.Kind == crashtest.OpWrite && op.Status == crashtest.Acked {
			res.AckedOps++
		}
	}
	if cfg.Only != nil && (*cfg.Only < 0 || *cfg.Only > len(log)) {
		return nil, &crashtest.SettingError{Name: "at", Value: fmt.Sprint(*cfg.Only),
			Want: fmt.Sprintf("want 0 to %d: the workload has %d filesystem operations", len(log), len(log))}
	}
	points := crashPoints(log, model.SyncPoints(), cfg)
	res.CrashPoints = len(points)
	if err := judgeAll(cfg, log, points, model, res); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// runRecorded runs the workload to the end on the recording filesystem.
func runRecorded(cfg Config, rec *fsrecord.FS, model *crashtest.ReferenceModel) error {
	var fsys vfs.FS = rec
	o := crashtest.Replayable(cfg.Options)
	o.FS, o.Durability, o.CrashPoints = fsys, cfg.Durability, nil
	db, err := inmem.Open(exploreDir, crashtest.Planted(o, cfg.Plant))
	if err != nil {
		return fmt.Errorf("crashtest: open the recorded database: %w", err)
	}
	r := crashtest.NewRunner(db, model)
	r.SetOpen(func() (*inmem.DB, error) { return inmem.Open(exploreDir, crashtest.Planted(o, cfg.Plant)) })
	err = crashtest.RandomScenario(cfg.Workload)(r)
	r.DB().Close() // after the workload's own Close, if it had one: ErrClosed
	if err != nil {
		return fmt.Errorf("crashtest: the recorded workload failed: %w", err)
	}
	if ms := r.Mismatches(); len(ms) > 0 {
		return fmt.Errorf("crashtest: the database disagreed with the model while the workload ran: %v", ms)
	}
	return nil
}

// crashPoints returns the numbers of operations after which to crash:
// around every sync, right where every sync the model knows of completed
// (a Flush, Checkpoint or Close returned), and at the end.
func crashPoints(log []fsrecord.Op, synced []uint64, cfg Config) []int {
	if cfg.Only != nil {
		return []int{*cfg.Only}
	}
	var pts []int
	seen := map[int]bool{}
	add := func(n int) {
		if !seen[n] {
			seen[n] = true
			pts = append(pts, n)
		}
	}
	for i, op := range log {
		switch {
		case cfg.EveryOperation:
			add(i + 1)
		case op.IsSync():
			add(i)     // everything the sync would make durable is written, not yet durable
			add(i + 1) // the sync completed
		}
	}
	for _, at := range synced {
		add(int(min(at, uint64(len(log)))))
	}
	add(len(log))
	slices.Sort(pts)
	return pts
}

type stateJob struct {
	point  int
	lastOp string
	policy vfs.CrashPolicy
	fs     *vfs.MemFS
	view   *crashtest.ReferenceModel
	log    []fsrecord.Op
}

type stateVerdict struct {
	violation *Violation
	acked     int // acknowledged operations present
	atCrash   int // acknowledged before the crash
	promised  int // of those, the promise required
	lost      int // of those, missing though promised
	recovery  time.Duration
}

// judgeAll replays the log, builds the crash states at each point and judges
// them on cfg.Workers goroutines.
func judgeAll(cfg Config, log []fsrecord.Op, points []int, model *crashtest.ReferenceModel, res *Result) error {
	perPoint := 0
	for _, p := range cfg.Policies {
		if p.Seeded() {
			perPoint += cfg.RandomStates
		} else {
			perPoint++
		}
	}
	if cfg.OnlyPolicy != nil {
		perPoint = 1
	}
	total := perPoint * len(points)
	jobs := make(chan stateJob, 2*cfg.Workers)
	verdicts := make(chan stateVerdict, 2*cfg.Workers)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				verdicts <- judgeState(cfg, j)
			}
		}()
	}
	var genErr error
	go func() {
		genErr = generateStates(cfg, log, points, model, jobs)
		close(jobs)
		wg.Wait()
		close(verdicts)
	}()
	for v := range verdicts {
		res.States++
		res.AckedChecked += v.acked
		res.AckedAtCrash += v.atCrash
		res.Promised += v.promised
		res.AckedLost += v.lost
		res.RecoveryTime += v.recovery
		if v.violation != nil {
			res.Violations = append(res.Violations, *v.violation)
		}
		if cfg.Progress != nil {
			cfg.Progress(res.States, total)
		}
	}
	return genErr
}

func generateStates(cfg Config, log []fsrecord.Op, points []int, model *crashtest.ReferenceModel, jobs chan<- stateJob) error {
	rp := fsrecord.NewReplayer(nil, log)
	for _, pt := range points {
		if err := rp.Advance(pt); err != nil {
			return err
		}
		view := model.At(uint64(pt))
		last := "the start"
		if pt > 0 {
			last = log[pt-1].String()
		}
		for _, policy := range statePolicies(cfg, pt) {
			select {
			case jobs <- stateJob{point: pt, lastOp: last, policy: policy, fs: rp.FS().Crash(policy), view: view, log: log}:
			case <-cfg.Stop:
				return nil
			}
		}
	}
	return nil
}

func statePolicies(cfg Config, point int) []vfs.CrashPolicy {
	if cfg.OnlyPolicy != nil {
		return []vfs.CrashPolicy{*cfg.OnlyPolicy}
	}
	var ps []vfs.CrashPolicy
	for _, m := range cfg.Policies {
		if !m.Seeded() {
			ps = append(ps, vfs.CrashPolicy{Mode: m})
			continue
		}
		for i := 0; i < cfg.RandomStates; i++ {
			ps = append(ps, vfs.CrashPolicy{Mode: m, Seed: cfg.Workload.Seed*7919 + uint64(point)*131 + uint64(i)})
		}
	}
	return ps
}

// judgeState recovers one crash state and judges it.
func judgeState(cfg Config, j stateJob) stateVerdict {
	crashType := crashtest.PowerLoss
	if j.policy.Mode == vfs.KeepUnsynced {
		crashType = crashtest.ProcessKill
	}
	promise := crashtest.Promise{Durability: cfg.Durability, Crash: crashType}
	o := crashtest.Replayable(cfg.Options)
	o.FS, o.Durability, o.CrashPoints = j.fs, cfg.Durability, nil
	start := time.Now()
	db, err := inmem.Open(exploreDir, crashtest.Planted(o, cfg.Plant))
	out := stateVerdict{recovery: time.Since(start)}
	violation := func(err error, ms []crashtest.StateMismatch) *Violation {
		return &Violation{Seed: cfg.Workload.Seed, OpIndex: j.point, LastOp: j.lastOp, Policy: j.policy, Fates: fates(j),
			RecoveryErr: err, Mismatches: ms}
	}
	if err != nil {
		out.violation = violation(err, nil)
		return out
	}
	defer db.Close()
	verdict := j.view.Judge(db, promise)
	out.acked, out.atCrash = verdict.AckedKept, verdict.AckedKept+verdict.AckedLost
	out.promised = ackedUpTo(j.view, verdict.Required)
	out.lost = out.promised - ackedUpTo(j.view, min(verdict.Required, verdict.Recovered))
	ms := append(verdict.Mismatches, crashtest.ProbeNext(db)...)
	if len(ms) > 0 {
		out.violation = violation(nil, ms)
	}
	return out
}

// fates rebuilds a violating state to say what its policy kept and dropped
// (only violations pay for the report).
func fates(j stateJob) []string {
	rp := fsrecord.NewReplayer(nil, j.log)
	if err := rp.Advance(j.point); err != nil {
		return []string{err.Error()}
	}
	_, f := rp.FS().CrashReport(j.policy)
	if len(f) == 0 && !j.policy.Mode.Seeded() {
		f = []string{fmt.Sprintf("every unsynced operation %s", map[bool]string{true: "kept", false: "dropped"}[j.policy.Mode == vfs.KeepUnsynced])}
	}
	return f
}

// ackedUpTo counts the acknowledged write operations at or below v.
func ackedUpTo(m *crashtest.ReferenceModel, v inmem.Version) int {
	n := 0
	for _, op := range m.Ops() {
		if op.Kind == crashtest.OpWrite && op.Status == crashtest.Acked && op.Version <= v {
			n++
		}
	}
	return n
}
