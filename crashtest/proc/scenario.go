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
nothing else, versions exact. Iterations continue on the same database, so
damage would accumulate; a reproduction reruns the iterations up to the
failing one.`,
		Unit: "kills", InAll: true, Budget: 30 * time.Second,
	}
}

// signals are the signal param's choices.
var signals = map[string][]syscall.Signal{
	"kill": {syscall.SIGKILL}, "abrt": {syscall.SIGABRT}, "segv": {syscall.SIGSEGV},
	"mix": {syscall.SIGKILL, syscall.SIGKILL, syscall.SIGABRT, syscall.SIGSEGV},
}

func (scenario) Params() []crashtest.Param {
	return []crashtest.Param{
		crashtest.ChoiceParam("signal", "mix", []string{"kill", "abrt", "segv", "mix"}, "the signal of the kills (mix: SIGKILL twice as often as SIGABRT and SIGSEGV)"),
		{Name: "crash-point", Default: "random", Usage: "the crash point of whitebox kills: a name (AfterFsync, ...) or random", Check: checkPoint},
		crashtest.IntParam("whitebox", 30, 0, 100, "percent of the iterations that are whitebox kills at a crash point"),
		crashtest.DurationParam("min-runtime", 50*time.Millisecond, time.Millisecond, time.Hour, "shortest run of a child before it is killed"),
		crashtest.DurationParam("max-runtime", 200*time.Millisecond, time.Millisecond, time.Hour, "longest run of a child before it is killed"),
		crashtest.IntParam("writers", 4, 1, 64, "concurrent writers in the child"),
		crashtest.IntParam("kill-after-acks", 0, 0, 1_000_000, "kill after a random number of acknowledgements up to this, instead of after a random time (0: by time)"),
		{Name: "db", Usage: "the database to crash again and again (default: a new one in the scratch space); an existing database is adopted as the starting state"},
	}
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
	return nil
}

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
	return pc
}

func (sc scenario) Run(ctx context.Context, s *crashtest.Session) error {
	if s.Child.Binary == "" {
		return errors.New("crashtest: the kill scenario needs the workload child's binary (Session.Child)")
	}
	dir := filepath.Join(s.Dir, "db")
	if db := s.Settings.String("db"); db != "" {
		dir = db // both durability modes crash the same database in turn
	}
	pc := config(ctx, s)
	t := NewProcessCrashTester(s.Child.Binary, dir, pc)
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
	f := &s.Found
	f.Runs++
	f.AckedVerified += r.AckedKept
	f.AckedLost += r.AckedLost
	if !r.RecoverySucceeded {
		repro := s.Reproduction(r.Seed)
		repro.Iterations = r.Iteration + 1
		for _, name := range []string{"signal", "crash-point", "whitebox", "min-runtime", "max-runtime", "writers", "kill-after-acks"} {
			repro.Params = append(repro.Params, crashtest.Setting{Name: name, Value: s.Settings.String(name)})
		}
		s.Violation(crashtest.Violation{Summary: fmt.Sprintf("iteration %d: %s", r.Iteration, r.Signal), Detail: r.String(),
			Reproduction: repro})
	}
	f.Samples = append(f.Samples, crashtest.Sample{Index: r.Iteration, RecoveryMs: float64(r.RecoveryTime.Microseconds()) / 1000,
		Acked: uint64(r.AckedUpTo), Promised: uint64(r.AckedUpTo), Recovered: uint64(r.Recovered), Passed: r.RecoverySucceeded})
	s.Progress(r.Iteration+1, max(s.Iterations, 0), r.Signal+" "+strconv.Itoa(r.Acks)+" acks")
}
