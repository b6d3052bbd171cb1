package crashtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/vfs"
)

// CrashConfig configures a CrashHarness.
type CrashConfig struct {
	// CrashProbability is the chance that any one hit of a crash point
	// crashes, when no point is set with SetCrashPoint. 0 means crash only
	// at the end of the scenario.
	CrashProbability float64
	// CrashTypes are the crash types to use; each scenario picks one with
	// the seeded generator.
	CrashTypes []CrashType
	// MaxOperations stops a scenario after this many operations (0: no
	// limit); further operations return ErrMaxOperations.
	MaxOperations int
	// Timeout bounds one scenario plus its recovery; a hang is reported as a
	// failure.
	Timeout time.Duration
	// Seed drives every random choice; the same seed gives the same run.
	Seed uint64
	// Durability is the mode the database runs in and the promise the
	// recovered state is judged against.
	Durability inmem.Durability
	// PowerLossPolicy chooses what a PowerLoss keeps of unsynced data. Its
	// Seed is ignored: each crash derives one from Seed.
	PowerLossPolicy vfs.CrashMode
	// Options are the other database options (SegmentSize, codec, ...).
	// FS and CrashPoints are the harness's and are ignored here.
	Options inmem.Options
	// WrapFS, if set, wraps the filesystem the database runs on during a
	// scenario (not during recovery): a seam for fault injection, or for
	// proving the harness catches a broken filesystem.
	WrapFS func(vfs.FS) vfs.FS
	// Plant, if set, changes every database the harness opens, scenario and
	// recovery alike (see Session.Plant).
	Plant func(*inmem.Options)
	// ThenPowerLoss follows every process crash (ProcessKill, ProcessAbort,
	// SegFault) with power losses: the database lives on a vfs.MemFS, the
	// crash keeps unsynced writes unsynced (vfs.MemFS.Kill), and after the
	// recovery from it and its first commits, a power loss dropping what is
	// still unsynced is judged at every sync point of them. What the
	// recovery served must survive, in Buffered mode too.
	ThenPowerLoss bool
	// AfterCrash, if set, runs on the crash state before recovery: fsys holds
	// the database in dir exactly as the crash left it. A seam for damaging
	// files behind the engine's back.
	AfterCrash func(fsys vfs.FS, dir string) error
	// Reproduce, if set, is the command that reruns this harness with the
	// same seed; it is printed with every failure. %d is replaced by the seed.
	Reproduce string
}

// DefaultCrashConfig returns a configuration that crashes at random points
// (10% of hits) with a kill or an abort, in Strict mode.
func DefaultCrashConfig() CrashConfig {
	return CrashConfig{
		CrashProbability: 0.1,
		CrashTypes:       []CrashType{ProcessKill, ProcessAbort},
		MaxOperations:    1000,
		Timeout:          30 * time.Second,
		Seed:             1,
		Durability:       inmem.Strict,
		PowerLossPolicy:  vfs.DropUnsynced,
	}
}

// CrashHarness runs scenarios against an in-mem database, crashes it at an
// armed crash point (or at random points), recovers it and judges the
// recovered state with its reference model. Scenarios run one after the
// other on the same database, so state and damage accumulate across crashes
// the way a real deployment lives.
//
// Process crash types (ProcessKill, ProcessAbort, SegFault) run the database
// on the real directory: the crash freezes the filesystem wrapper (every
// later operation fails), closes every file and lock like a dying process,
// and recovery opens the files as the crash left them. PowerLoss runs it on a
// vfs.MemFS and recovers from the crash state the policy keeps. Real process
// deaths are ProcessCrashTester's job.
type CrashHarness struct {
	dir   string
	cfg   CrashConfig
	model *ReferenceModel

	point    *CrashPoint
	pointHit uint64

	mem       *vfs.MemFS // the database when its state lives in memory (after a power loss)
	scenarios int
}

// NewCrashHarness returns a harness for the database in dir (created by the
// first scenario if it does not exist).
func NewCrashHarness(dir string, cfg CrashConfig) *CrashHarness {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if len(cfg.CrashTypes) == 0 {
		cfg.CrashTypes = []CrashType{ProcessKill}
	}
	return &CrashHarness{dir: dir, cfg: cfg, model: NewReferenceModel()}
}

// SetCrashPoint crashes the next scenarios at the first hit of p.
// DuringRecovery crashes the recovery after the scenario instead, which is
// then recovered a second time.
func (h *CrashHarness) SetCrashPoint(p CrashPoint) { h.SetCrashPointHit(p, 1) }

// SetCrashPointHit crashes at the nth hit of p.
func (h *CrashHarness) SetCrashPointHit(p CrashPoint, n uint64) {
	h.point, h.pointHit = &p, max(n, 1)
}

// ClearCrashPoint goes back to random crash points.
func (h *CrashHarness) ClearCrashPoint() { h.point = nil }

// Model returns the reference model.
func (h *CrashHarness) Model() *ReferenceModel { return h.model }

// Config returns the configuration.
func (h *CrashHarness) Config() CrashConfig { return h.cfg }

// snapDirName is the database's snapshot directory (see inmem.Inspect).
const snapDirName = "SNAPSHOTS"

// crash is one crash of one attempt: the filesystem it froze and what the
// disk held at that moment.
type crash struct {
	fs      *freezeFS
	src     *vfs.MemFS // the filesystem a power loss clones, nil on disk
	mem     *vfs.MemFS // power loss: the crash state
	policy  vfs.CrashPolicy
	kill    bool // a process crash on a MemFS: unsynced writes stay unsynced
	ch      chan struct{}
	release chan struct{}
	once    sync.Once
	point   *CrashPoint
}

func newCrash(base vfs.FS, wrap func(vfs.FS) vfs.FS, policy vfs.CrashPolicy, kill bool) *crash {
	c := &crash{policy: policy, kill: kill, ch: make(chan struct{}), release: make(chan struct{})}
	c.src, _ = base.(*vfs.MemFS)
	if wrap != nil {
		base = wrap(base)
	}
	c.fs = newFreezeFS(base)
	return c
}

// now crashes: it captures the disk and freezes the filesystem. From a crash
// point (park is true) it then parks the calling goroutine until released:
// the world stopped there.
func (c *crash) now(p *CrashPoint, park bool) {
	first := c.fs.Crash(func() {
		switch {
		case c.src != nil && c.kill:
			c.mem = c.src.Kill()
		case c.src != nil:
			c.mem = c.src.Crash(c.policy)
		}
		c.point = p
	})
	if first {
		close(c.ch)
	}
	if park {
		<-c.release
	}
}

func (c *crash) action(p crashpoint.Point) { c.now(&p, true) }

func (c *crash) unpark() { c.once.Do(func() { close(c.release) }) }

func (c *crash) happened() bool {
	select {
	case <-c.ch:
		return true
	default:
		return false
	}
}

func (h *CrashHarness) scenarioSeed() uint64 {
	return h.cfg.Seed*1_000_003 + uint64(h.scenarios)
}

// RunScenario opens the database, runs fn with the crash armed, crashes
// (at the armed point, a random point, or after fn returns), recovers and
// verifies. The error is for harness failures (the database could not even
// be set up); a broken promise is reported in the result.
func (h *CrashHarness) RunScenario(fn func(*ScenarioRunner) error) (*CrashTestResult, error) {
	start := time.Now()
	seed := h.scenarioSeed()
	h.scenarios++
	rng := rand.New(rand.NewPCG(seed, 0x5ce4a210))
	typ := h.cfg.CrashTypes[rng.IntN(len(h.cfg.CrashTypes))]
	res := &CrashTestResult{CrashType: typ, Seed: h.cfg.Seed, ScenarioSeed: seed, Durability: h.cfg.Durability}
	base, err := h.baseFS(typ)
	if err != nil {
		return nil, err
	}
	policy := vfs.CrashPolicy{Mode: h.cfg.PowerLossPolicy, Seed: rng.Uint64()}
	c := newCrash(base, h.cfg.WrapFS, policy, h.killsInMemory(typ))
	cp := crashpoint.New()
	db, err := inmem.Open(h.dir, h.options(c.fs, cp))
	if err != nil {
		return nil, fmt.Errorf("crashtest: open before the scenario: %w", err)
	}
	h.arm(cp, c, rng)
	runner := newRunner(db, h.model, c.ch, h.cfg.Timeout, h.cfg.MaxOperations)
	runner.SetOpen(func() (*inmem.DB, error) { return inmem.Open(h.dir, h.options(c.fs, cp)) })
	err = fn(runner)
	res.ScenarioSucceeded = err == nil || errors.Is(err, ErrCrashed)
	if err != nil && !errors.Is(err, ErrCrashed) {
		res.ScenarioErr = err
	}
	c.now(nil, false) // the end of the scenario, if no point crashed earlier
	res.Crashed, res.CrashPoint = c.point != nil, c.point
	res.OperationsCompleted = runner.done
	abandoned := runner.DB()
	defer func() {
		c.unpark()
		go abandoned.Close() // the abandoned handle: its goroutines fail on the frozen filesystem and exit
	}()
	h.recoverAndVerify(res, c, runner)
	res.Duration = time.Since(start)
	if !res.Recovery.Valid {
		res.Report = h.failureReport(res)
	}
	return res, nil
}

// baseFS returns the filesystem the next scenario runs on, moving the
// database between the disk and memory as the crash type needs.
func (h *CrashHarness) baseFS(typ CrashType) (vfs.FS, error) {
	if typ == PowerLoss || h.cfg.ThenPowerLoss {
		if h.mem == nil {
			m, err := loadDir(h.dir)
			if err != nil {
				return nil, err
			}
			h.mem = m
		}
		return h.mem, nil
	}
	if h.mem != nil {
		if err := storeDir(h.mem, h.dir); err != nil {
			return nil, err
		}
		h.mem = nil
	}
	return vfs.OS, nil
}

func (h *CrashHarness) options(fsys vfs.FS, cp *crashpoint.Set) *inmem.Options {
	o := Replayable(h.cfg.Options)
	o.Durability, o.FS, o.CrashPoints = h.cfg.Durability, fsys, cp
	return Planted(o, h.cfg.Plant)
}

// arm arms the scenario's crash: the set point, or random hits.
func (h *CrashHarness) arm(cp *crashpoint.Set, c *crash, rng *rand.Rand) {
	switch {
	case h.point != nil && *h.point != DuringRecovery:
		cp.Arm(crashpoint.OnHit(*h.point, h.pointHit), c.action)
	case h.point == nil && h.cfg.CrashProbability > 0:
		cp.Arm(crashpoint.Random(h.cfg.CrashProbability, rng.Uint64()), c.action)
	default:
		cp.Count()
	}
}

// recoverAndVerify opens the crashed database (crashing the recovery too if
// DuringRecovery is armed, then recovering again), judges it and probes that
// the next commit follows the recovered versions.
func (h *CrashHarness) recoverAndVerify(res *CrashTestResult, c *crash, runner *ScenarioRunner) {
	rv := &res.Recovery
	rv.Mismatches = append(rv.Mismatches, runner.mismatches...)
	recStart := time.Now()
	db, fsys, err := h.recover(c, res)
	res.RecoveryDuration = time.Since(recStart)
	if err != nil {
		rv.Err = err
		return
	}
	res.RecoverySucceeded = true
	promise := Promise{Durability: h.cfg.Durability, Crash: res.CrashType}
	res.RecoveryReport = db.Recovery()
	rv.Verdict = h.model.Judge(db, promise)
	rv.Mismatches = append(rv.Mismatches, rv.Verdict.Mismatches...)
	if rec, ok := fsys.(*fsrecord.FS); ok {
		rv.Mismatches = append(rv.Mismatches, h.thenPowerLoss(db, rec)...)
		fsys = rec.Inner()
	} else {
		h.model.Settle(db.LastVersion())
		rv.Mismatches = append(rv.Mismatches, h.probe(db)...)
	}
	if err := db.Close(); err != nil {
		rv.Mismatches = append(rv.Mismatches, StateMismatch{"close", "a clean close after recovery", err.Error()})
	}
	if m, ok := fsys.(*vfs.MemFS); ok {
		h.mem = m
	}
	rv.Valid = len(rv.Mismatches) == 0
}

// recover opens the database from the crash state. With DuringRecovery armed
// the first recovery crashes (as the scenario's crash type says) and a
// second one, from what the first left, is the one verified.
func (h *CrashHarness) recover(c *crash, res *CrashTestResult) (*inmem.DB, vfs.FS, error) {
	var fsys vfs.FS = vfs.OS
	if c.mem != nil {
		fsys = c.mem
	}
	if names, err := fsys.List(filepath.Join(h.dir, snapDirName)); err == nil {
		res.CrashFiles = names
	}
	if h.cfg.AfterCrash != nil {
		if err := h.cfg.AfterCrash(fsys, h.dir); err != nil {
			return nil, nil, fmt.Errorf("crashtest: AfterCrash: %w", err)
		}
	}
	if h.point != nil && *h.point == DuringRecovery {
		rc := newCrash(fsys, nil, vfs.CrashPolicy{Mode: c.policy.Mode, Seed: c.policy.Seed + 1}, c.kill)
		cp := crashpoint.New()
		cp.Arm(crashpoint.OnHit(DuringRecovery, h.pointHit), rc.action)
		db, err := h.openWatched(rc, cp)
		if db != nil {
			return db, fsys, err // the recovery never reached the point
		}
		if !rc.happened() {
			return nil, nil, err
		}
		res.RecoveryCrashes++
		res.Crashed, res.CrashPoint = true, rc.point
		rc.unpark()
		if rc.mem != nil {
			fsys = rc.mem
		}
	}
	if m, ok := fsys.(*vfs.MemFS); ok && c.kill {
		fsys = fsrecord.New(m) // the recovery and the commits after it, to crash again
	}
	db, err := inmem.Open(h.dir, h.options(fsys, nil))
	if err != nil {
		return nil, nil, fmt.Errorf("recovery: %w", err)
	}
	return db, fsys, nil
}

// killsInMemory reports whether a crash of type typ is a process crash on a
// MemFS, to be followed by power losses (ThenPowerLoss).
func (h *CrashHarness) killsInMemory(typ CrashType) bool {
	return h.cfg.ThenPowerLoss && typ != PowerLoss
}

// openWatched opens the database on its own goroutine, returning nil if the
// crash stopped it.
func (h *CrashHarness) openWatched(c *crash, cp *crashpoint.Set) (*inmem.DB, error) {
	type opened struct {
		db  *inmem.DB
		err error
	}
	done := make(chan opened, 1)
	go func() {
		db, err := inmem.Open(h.dir, h.options(c.fs, cp))
		done <- opened{db, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("recovery: %w", o.err)
		}
		return o.db, nil
	case <-c.ch:
		go func() {
			if o := <-done; o.db != nil {
				o.db.Close()
			}
		}()
		return nil, ErrCrashed
	case <-time.After(h.cfg.Timeout):
		return nil, fmt.Errorf("recovery hung for %s", h.cfg.Timeout)
	}
}

// probe commits one write after recovery: it must get the version right
// after the recovered ones.
func (h *CrashHarness) probe(db *inmem.DB) []StateMismatch {
	r := newRunner(db, h.model, make(chan struct{}), h.cfg.Timeout, 0)
	key := fmt.Sprintf("after-crash-%d", h.scenarios)
	if err := r.KVPut("crashtest-probe", key, UniqueValue("crashtest-probe", key, len(h.model.ops), 16)); err != nil {
		r.mismatch("probe", "a write after recovery to succeed", err.Error())
	}
	return r.mismatches
}

// failureReport says everything needed to understand and reproduce a failure.
func (h *CrashHarness) failureReport(res *CrashTestResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "crash test failed: seed %d (scenario seed %d), crash type %s, durability %s, ", res.Seed, res.ScenarioSeed, res.CrashType, res.Durability)
	if res.CrashPoint != nil {
		fmt.Fprintf(&b, "crash point %s\n", *res.CrashPoint)
	} else {
		b.WriteString("crash at the end of the scenario\n")
	}
	if res.Recovery.Err != nil {
		fmt.Fprintf(&b, "recovery failed: %v\n", res.Recovery.Err)
	}
	for i, m := range res.Recovery.Mismatches {
		if i == 20 {
			fmt.Fprintf(&b, "  ... %d more mismatches\n", len(res.Recovery.Mismatches)-i)
			break
		}
		fmt.Fprintf(&b, "  mismatch %s\n", m)
	}
	b.WriteString("last operations:\n")
	for _, op := range h.model.Tail(10) {
		fmt.Fprintf(&b, "  %s\n", op)
	}
	if h.cfg.Reproduce != "" {
		fmt.Fprintf(&b, "reproduce: %s\n", strings.ReplaceAll(h.cfg.Reproduce, "%d", fmt.Sprint(h.cfg.Seed)))
	}
	return b.String()
}
