package proc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/crashtest"
)

// Scenario is the kill tester as a campaign scenario: one directory, a
// workload child killed again and again, every recovery judged.
var Scenario crashtest.Scenario = scenario{}

type scenario struct{}

func (scenario) Name() string { return "kill" }

func (scenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Kill a workload child with real signals, again and again on one directory, and judge every recovery",
		Long: `kill runs a child process with concurrent writers over every primitive,
transactions, checkpoints and compactions; after a random time it kills it
(SIGKILL, SIGABRT or SIGSEGV) or, in a share of the iterations (whitebox),
the child SIGKILLs itself at a random hit of a crash point. The parent then
recovers the database, rebuilds the reference model from the seed and the
child's acknowledgements, and judges: every acknowledged operation present,
nothing else, versions exact. The child closes the database cleanly and
opens it again every reopen-every operations (100 by default; -1: never),
and every reopen must lose nothing. Iterations continue on the same
database, so damage would accumulate; a reproduction reruns the iterations
up to the failing one.

target crashes another engine the same way, through the target protocol
(docs/target-protocol.md): its workload puts, deletes, writes atomic
batches and syncs, reopens the store every reopen-every operations, and a
key/value model judges every recovery; findings are classified
(acked-loss, phantom, torn-batch, unopenable, creation, hang, broken).`,
		Unit: "kills", InAll: true, Budget: 30 * time.Second,
	}
}

// signals are the signal param's choices.
var signals = map[string][]syscall.Signal{
	"kill": {syscall.SIGKILL}, "abrt": {syscall.SIGABRT}, "segv": {syscall.SIGSEGV},
	"mix": {syscall.SIGKILL, syscall.SIGKILL, syscall.SIGABRT, syscall.SIGSEGV},
}

func (scenario) Params() []crashtest.Param {
	return append([]crashtest.Param{
		crashtest.ChoiceParam("signal", "mix", []string{"kill", "abrt", "segv", "mix"}, "the signal of the kills (mix: SIGKILL twice as often as SIGABRT and SIGSEGV)"),
		{Name: "crash-point", Default: "random", Usage: "the crash point of whitebox kills: a name (AfterFsync, ...) or random", Check: checkPoint},
		crashtest.IntParam("whitebox", 30, 0, 100, "percent of the iterations that are whitebox kills at a crash point"),
		crashtest.DurationParam("min-runtime", 50*time.Millisecond, time.Millisecond, time.Hour, "shortest run of a child before it is killed"),
		crashtest.DurationParam("max-runtime", 200*time.Millisecond, time.Millisecond, time.Hour, "longest run of a child before it is killed"),
		crashtest.IntParam("writers", 4, 1, 64, "concurrent writers in the child"),
		crashtest.IntParam("kill-after-acks", 0, 0, 1_000_000, "kill after a random number of acknowledgements up to this, instead of after a random time (0: by time)"),
		{Name: "db", Usage: "the database to crash again and again (default: a new one in the scratch space); an existing database is adopted as the starting state"},
		{Name: "kill-first", Kind: crashtest.KindBool, Default: "false", Usage: "with a key/value target: SIGKILL a first workload, then kill the one that recovered from it (crash, recover, crash again)"},
	}, TargetParams()...)
}

func checkPoint(v string) error {
	if v == "random" {
		return nil
	}
	if _, err := crashpoint.Parse(v); err != nil {
		return fmt.Errorf("want random or a crash point: %v", crashpoint.All())
	}
	return nil
}

func (scenario) Check(s crashtest.Settings) error {
	if s.Duration("max-runtime") < s.Duration("min-runtime") {
		return &crashtest.SettingError{Name: "max-runtime", Value: s.String("max-runtime"), Want: "want at least min-runtime (" + s.String("min-runtime") + ")"}
	}
	if db := s.String("db"); db != "" {
		if info, err := os.Stat(db); err == nil && !info.IsDir() {
			return &crashtest.SettingError{Name: "db", Value: db, Want: "want a directory: this is a file"}
		}
	}
	if s.Bool("kill-first") && InmemOwn(s) {
		return &crashtest.SettingError{Name: "kill-first", Value: "true", Want: "works with a key/value target (target); in-mem's own kill campaign kills every recovery already"}
	}
	return CheckTarget(s)
}

func (scenario) IgnoresDurability(s crashtest.Settings) bool { return !InmemOwn(s) }

// killReopenDefault is the kill scenario's reopen-every, for in-mem's own
// workload and a Target's alike.
const killReopenDefault = 100

// config builds the tester's configuration from the session.
func config(ctx context.Context, s *crashtest.Session) ProcessCrashConfig {
	set := s.Settings
	pc := ProcessCrashConfig{
		MinRuntime: set.Duration("min-runtime"), MaxRuntime: set.Duration("max-runtime"), Iterations: s.Iterations,
		Signals: signals[set.String("signal")], WhiteboxRatio: float64(set.Int("whitebox")) / 100, MaxHit: 5,
		Writers: set.Int("writers"), MaxAcks: set.Int("kill-after-acks"), Seed: s.ShardSeed(), Durability: s.Durability,
		Args: s.Child.Args, Env: s.Child.Env, Stop: ctx.Done(),
	}
	switch p := set.String("crash-point"); {
	case pc.WhiteboxRatio == 0:
		pc.WhiteboxRatio = -1
	case p == "random":
		pc.CrashPoints = crashpoint.All()
	default:
		cp, _ := crashpoint.Parse(p)
		pc.CrashPoints = []crashpoint.Point{cp}
	}
	if s.Iterations <= 0 {
		pc.Iterations, pc.Deadline = 1<<30, s.Deadline
	}
	if child, target := TargetChild(s, killReopenDefault); target != nil {
		pc.Target, pc.Args, pc.Env, pc.WhiteboxRatio, pc.CrashPoints = target, child.Args, child.Env, -1, nil
		target.Lifecycle.KillFirst = set.Bool("kill-first")
	} else {
		pc.ReopenEvery = ReopenEvery(set, killReopenDefault)
	}
	return pc
}

func (sc scenario) Run(ctx context.Context, s *crashtest.Session) error {
	if s.Child.Binary == "" && InmemOwn(s.Settings) {
		return errors.New("crashtest: the kill scenario needs the workload child's binary (Session.Child)")
	}
	dir := filepath.Join(s.Dir, "db")
	if db := s.Settings.String("db"); db != "" {
		dir = db // both durability modes crash the same database in turn
	}
	s.Found.Label = TargetLabel(s)
	pc := config(ctx, s)
	bin := s.Child.Binary
	if pc.Target != nil {
		child, _ := TargetChild(s, 0)
		bin = child.Binary
	}
	t := NewProcessCrashTester(bin, dir, pc)
	if pc.Target != nil {
		return t.runTarget(s, sc)
	}
	if err := t.adopt(); err != nil {
		return err
	}
	pc.Progress = func(r KillIterationResult) { sc.record(s, r) }
	t.cfg.Progress = pc.Progress
	_, err := t.Run()
	return err
}

// adopt makes an existing database in the tester's directory the model's
// starting state.
func (t *ProcessCrashTester) adopt() error {
	if _, err := os.Stat(filepath.Join(t.dir, "MANIFEST")); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := inmem.Open(t.dir, &inmem.Options{Durability: t.cfg.Durability, SegmentSize: t.cfg.SegmentSize})
	if err != nil {
		return fmt.Errorf("opening the database to crash: %w", err)
	}
	err = t.model.Adopt(db)
	return errors.Join(err, db.Close())
}

// record books one kill into the session.
func (scenario) record(s *crashtest.Session, r KillIterationResult) {
	repro := s.Reproduction(r.Seed)
	repro.Iterations = r.Iteration + 1
	for _, name := range []string{"signal", "crash-point", "whitebox", "min-runtime", "max-runtime", "writers", "kill-after-acks", "kill-first"} {
		repro.Params = append(repro.Params, crashtest.Setting{Name: name, Value: s.Settings.String(name)})
	}
	repro.Params = append(repro.Params, TargetSettings(s.Settings)...)
	BookIteration(s, r, fmt.Sprintf("iteration %d: %s", r.Iteration, r.Signal), repro)
	s.Found.Samples = append(s.Found.Samples, crashtest.Sample{Index: r.Iteration, RecoveryMs: float64(r.RecoveryTime.Microseconds()) / 1000,
		Acked: uint64(r.AckedUpTo), Promised: uint64(r.AckedUpTo), Recovered: uint64(r.Recovered), Passed: r.RecoverySucceeded})
	s.Progress(r.Iteration+1, max(s.Iterations, 0), r.Signal+" "+strconv.Itoa(r.Acks)+" acks")
}

// runTarget runs the kill campaign on a Target.
func (t *ProcessCrashTester) runTarget(s *crashtest.Session, sc scenario) error {
	t.cfg.Progress = func(r KillIterationResult) { sc.record(s, r) }
	_, err := t.Run()
	return err
}
