package crashtest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// ExploreConfig configures a systematic crash-state exploration.
type ExploreConfig struct {
	// Workload is what runs; Seed and Ops matter most.
	Workload WorkloadConfig
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
	// WrapFS, if set, wraps the filesystem the workload runs on (a seam to
	// prove the exploration catches a broken filesystem).
	WrapFS func(vfs.FS) vfs.FS
	// Progress, if set, is called as states are judged.
	Progress func(done, total int)
	// Reproduce is the command that reruns one state; %d (seed), %o (op
	// index) and %p (policy) are replaced. Default: the inmem CLI.
	Reproduce string
	// Only, if set, explores only crash states after this many filesystem
	// operations (an exact reproduction).
	Only *int
	// OnlyPolicy, with Only, restricts to one policy.
	OnlyPolicy *vfs.CrashPolicy
}

// ExploreResult summarizes an exploration.
type ExploreResult struct {
	Ops          int // operations of the workload
	AckedOps     int // acknowledged write operations
	FSOps        int // filesystem operations recorded
	CrashPoints  int // points in the filesystem history crashed at
	States       int // crash states recovered and judged
	AckedChecked int // acknowledged operations checked present, summed over states
	Violations   []Violation
	Duration     time.Duration
	RecoveryTime time.Duration // summed over states
}

// Violation is one crash state whose recovery broke a promise, with what is
// needed to reproduce it.
type Violation struct {
	Seed        uint64
	OpIndex     int    // the crash came after this many filesystem operations
	LastOp      string // the operation right before the crash
	Policy      vfs.CrashPolicy
	Fates       []string // what the policy kept, dropped or tore
	RecoveryErr error
	Mismatches  []StateMismatch
	Reproduce   string
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, crash after filesystem operation %d (%s), policy %s\n", v.Seed, v.OpIndex, v.LastOp, v.Policy)
	if v.RecoveryErr != nil {
		fmt.Fprintf(&b, "  recovery failed: %v\n", v.RecoveryErr)
	}
	for i, m := range v.Mismatches {
		if i == 10 {
			fmt.Fprintf(&b, "  ... %d more\n", len(v.Mismatches)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", m)
	}
	for i, f := range v.Fates {
		if i == 12 {
			fmt.Fprintf(&b, "  ... %d more unsynced operations\n", len(v.Fates)-i)
			break
		}
		fmt.Fprintf(&b, "  unsynced: %s\n", f)
	}
	fmt.Fprintf(&b, "  reproduce: %s", v.Reproduce)
	return b.String()
}

const exploreDir = "/db"

func (c *ExploreConfig) defaults() {
	if len(c.Policies) == 0 {
		c.Policies = []vfs.CrashMode{vfs.DropUnsynced, vfs.KeepUnsynced, vfs.RandomUnsynced}
	}
	if c.RandomStates <= 0 {
		c.RandomStates = 4
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Reproduce == "" {
		c.Reproduce = fmt.Sprintf("go run ./cmd/inmem crash powerloss --seed %%d --ops %d --durability %s --at %%o --policy %%p",
			c.Workload.Ops, c.Durability)
	}
}

// Explore runs the workload once on a recording filesystem, then, for every
// crash point of its filesystem history (around every sync, or after every
// operation), builds the crash state of each policy, recovers it and judges
// it with the reference model as it stood at that moment.
func Explore(cfg ExploreConfig) (*ExploreResult, error) {
	cfg.defaults()
	start := time.Now()
	rec := newRecordFS()
	model := NewReferenceModel()
	model.SetClock(rec.Clock)
	if err := runRecorded(cfg, rec, model); err != nil {
		return nil, err
	}
	log := rec.Log()
	res := &ExploreResult{Ops: len(model.ops), FSOps: len(log)}
	for _, op := range model.ops {
		if op.Kind == OpWrite && op.Status == Acked {
			res.AckedOps++
		}
	}
	points := crashPoints(log, cfg)
	res.CrashPoints = len(points)
	if err := judgeAll(cfg, log, points, model, res); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// runRecorded runs the workload to the end on the recording filesystem.
func runRecorded(cfg ExploreConfig, rec *recordFS, model *ReferenceModel) error {
	var fsys vfs.FS = rec
	if cfg.WrapFS != nil {
		fsys = cfg.WrapFS(rec)
	}
	o := cfg.Options
	o.FS, o.Durability, o.CrashPoints = fsys, cfg.Durability, nil
	db, err := inmem.Open(exploreDir, &o)
	if err != nil {
		return fmt.Errorf("crashtest: open the recorded database: %w", err)
	}
	r := newRunner(db, model, make(chan struct{}), time.Hour, 0)
	err = RandomScenario(cfg.Workload)(r)
	db.Close()
	if err != nil {
		return fmt.Errorf("crashtest: the recorded workload failed: %w", err)
	}
	if len(r.mismatches) > 0 {
		return fmt.Errorf("crashtest: the database disagreed with the model while the workload ran: %v", r.mismatches)
	}
	return nil
}

// crashPoints returns the numbers of operations after which to crash.
func crashPoints(log []fsOp, cfg ExploreConfig) []int {
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
		case op.isSync():
			add(i)     // everything the sync would make durable is written, not yet durable
			add(i + 1) // the sync completed
		}
	}
	add(len(log))
	return pts
}

type stateJob struct {
	point  int
	lastOp string
	policy vfs.CrashPolicy
	fs     *vfs.MemFS
	view   *ReferenceModel
	log    []fsOp
}

type stateVerdict struct {
	violation *Violation
	acked     int
	recovery  time.Duration
}

// judgeAll replays the log, builds the crash states at each point and judges
// them on cfg.Workers goroutines.
func judgeAll(cfg ExploreConfig, log []fsOp, points []int, model *ReferenceModel, res *ExploreResult) error {
	perPoint := 0
	for _, p := range cfg.Policies {
		if p == vfs.RandomUnsynced {
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

func generateStates(cfg ExploreConfig, log []fsOp, points []int, model *ReferenceModel, jobs chan<- stateJob) error {
	rp := newReplayer(log)
	for _, pt := range points {
		if err := rp.advance(pt); err != nil {
			return err
		}
		view := model.At(uint64(pt))
		last := "the start"
		if pt > 0 {
			last = log[pt-1].String()
		}
		for _, policy := range statePolicies(cfg, pt) {
			jobs <- stateJob{point: pt, lastOp: last, policy: policy, fs: rp.fs.Crash(policy), view: view, log: log}
		}
	}
	return nil
}

func statePolicies(cfg ExploreConfig, point int) []vfs.CrashPolicy {
	if cfg.OnlyPolicy != nil {
		return []vfs.CrashPolicy{*cfg.OnlyPolicy}
	}
	var ps []vfs.CrashPolicy
	for _, m := range cfg.Policies {
		if m != vfs.RandomUnsynced {
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
func judgeState(cfg ExploreConfig, j stateJob) stateVerdict {
	crashType := PowerLoss
	if j.policy.Mode == vfs.KeepUnsynced {
		crashType = ProcessKill
	}
	promise := Promise{Durability: cfg.Durability, Crash: crashType}
	o := cfg.Options
	o.FS, o.Durability, o.CrashPoints = j.fs, cfg.Durability, nil
	start := time.Now()
	db, err := inmem.Open(exploreDir, &o)
	out := stateVerdict{recovery: time.Since(start)}
	violation := func(err error, ms []StateMismatch) *Violation {
		return &Violation{Seed: cfg.Workload.Seed, OpIndex: j.point, LastOp: j.lastOp, Policy: j.policy, Fates: fates(j),
			RecoveryErr: err, Mismatches: ms, Reproduce: cfg.reproduce(j.point, j.policy)}
	}
	if err != nil {
		out.violation = violation(err, nil)
		return out
	}
	defer db.Close()
	verdict := j.view.Judge(db, promise)
	out.acked = verdict.AckedKept
	ms := verdict.Mismatches
	// The next commit must follow every recovered version.
	last := db.LastVersion()
	if v, err := db.Commit(func(tx *inmem.Tx) error {
		id, err := tx.GetOrCreateRun("crashtest-probe")
		if err != nil {
			return err
		}
		return tx.KVPut(id, "probe", []byte("after recovery"))
	}); err != nil || v != last+1 {
		ms = append(ms, StateMismatch{Entity: "probe", Expected: fmt.Sprintf("the next commit at v%d", last+1), Actual: fmt.Sprintf("v%d, %v", v, err)})
	}
	if len(ms) > 0 {
		out.violation = violation(nil, ms)
	}
	return out
}

// fates rebuilds a violating state to say what its policy kept and dropped
// (only violations pay for the report).
func fates(j stateJob) []string {
	rp := newReplayer(j.log)
	if err := rp.advance(j.point); err != nil {
		return []string{err.Error()}
	}
	_, f := rp.fs.CrashReport(j.policy)
	if len(f) == 0 && j.policy.Mode != vfs.RandomUnsynced {
		f = []string{fmt.Sprintf("every unsynced operation %s", map[bool]string{true: "kept", false: "dropped"}[j.policy.Mode == vfs.KeepUnsynced])}
	}
	return f
}

func (c ExploreConfig) reproduce(point int, p vfs.CrashPolicy) string {
	policy := p.Mode.String()
	if p.Mode == vfs.RandomUnsynced {
		policy = fmt.Sprintf("random:%d", p.Seed)
	}
	r := strings.ReplaceAll(c.Reproduce, "%d", fmt.Sprint(c.Workload.Seed))
	r = strings.ReplaceAll(r, "%o", fmt.Sprint(point))
	return strings.ReplaceAll(r, "%p", policy)
}
