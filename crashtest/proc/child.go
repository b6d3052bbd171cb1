package proc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/in-mem/inmem/crashtest"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
)

// ChildConfig configures the workload child.
type ChildConfig struct {
	Dir         string
	Seed        uint64
	Iteration   int
	Writers     int
	Ops         int // per writer; 0: until killed
	Durability  inmem.Durability
	SegmentSize int64
	// CrashPoint, if set, makes the child SIGKILL itself at the CrashHit-th
	// hit of that point (RocksDB-style kill points).
	CrashPoint string
	CrashHit   uint64
	// ReopenEvery, if positive, closes the database cleanly and opens it
	// again after every n operations (all writers together), reporting
	// "L closing", "L close <version>" and "L open <version>" (see Lifecycle).
	ReopenEvery int
	// Preparation is how the child's log prepares its segments
	// (inmem.PrepareInline makes its file operations replayable).
	Preparation inmem.Preparation
}

// args returns the command line flags ChildMain parses back.
func (c ChildConfig) args() []string {
	a := []string{"--dir", c.Dir, "--seed", fmt.Sprint(c.Seed), "--iteration", fmt.Sprint(c.Iteration),
		"--writers", fmt.Sprint(c.Writers), "--ops", fmt.Sprint(c.Ops), "--durability", c.Durability.String(),
		"--segment-size", fmt.Sprint(c.SegmentSize)}
	if c.CrashPoint != "" {
		a = append(a, "--crash-point", c.CrashPoint, "--crash-hit", fmt.Sprint(c.CrashHit))
	}
	if c.ReopenEvery > 0 {
		a = append(a, "--reopen-every", fmt.Sprint(c.ReopenEvery))
	}
	if c.Preparation != inmem.PrepareBackground {
		a = append(a, "--prepare", c.Preparation.String())
	}
	return a
}

// ChildOption changes how a workload child opens its database: a seam for
// tests that plant a bug (a filesystem that loses writes, say) in the child
// and prove the testers catch it.
type ChildOption func(*inmem.Options)

// ChildMain is the workload child's entry point: cmd/inmem runs it as the
// hidden command "inmem crash child", and tests run it from TestMain when
// the environment names the child (see ChildEnv). The acknowledgement pipe
// is file descriptor 3. It returns the exit status.
func ChildMain(args []string, opts ...ChildOption) int {
	fs := flag.NewFlagSet("inmem crash child", flag.ContinueOnError)
	var c ChildConfig
	var durability, prepare string
	fs.StringVar(&c.Dir, "dir", "", "database directory")
	fs.Uint64Var(&c.Seed, "seed", 1, "workload seed")
	fs.IntVar(&c.Iteration, "iteration", 0, "iteration number (mixed into the seed)")
	fs.IntVar(&c.Writers, "writers", 4, "concurrent writers")
	fs.IntVar(&c.Ops, "ops", 0, "operations per writer (0: until killed)")
	fs.StringVar(&durability, "durability", "strict", "strict, buffered or inmemory")
	fs.Int64Var(&c.SegmentSize, "segment-size", 64<<10, "WAL segment size")
	fs.StringVar(&c.CrashPoint, "crash-point", "", "SIGKILL self at this crash point")
	fs.Uint64Var(&c.CrashHit, "crash-hit", 1, "at this hit of the crash point")
	fs.IntVar(&c.ReopenEvery, "reopen-every", 0, "close cleanly and reopen after every n operations (0: never)")
	fs.StringVar(&prepare, "prepare", "background", "segment preparation: background, inline or none")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := inmem.ParseDurability(durability)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	p, err := inmem.ParsePreparation(prepare)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c.Durability, c.Preparation = d, p
	acks := os.NewFile(3, "acks")
	if acks == nil {
		fmt.Fprintln(os.Stderr, "inmem crash child: file descriptor 3 (the acknowledgement pipe) is not open")
		return 2
	}
	if err := RunChild(c, acks, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "inmem crash child:", err)
		return 1
	}
	return 0
}

// ChildEnv is the environment variable that makes a test binary's TestMain
// run ChildMain instead of the tests (see ProcessCrashConfig.Env).
const ChildEnv = "INMEM_CRASHTEST_CHILD"

// iterationSeed mixes the iteration into the workload seed (splitmix64).
func iterationSeed(seed uint64, iteration int) uint64 {
	z := seed + uint64(iteration+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// RunChild runs the child's workload, reporting on acks.
func RunChild(c ChildConfig, acks io.Writer, opts ...ChildOption) error {
	aw := &ackWriter{w: acks}
	cp := crashpoint.New()
	if c.CrashPoint != "" {
		p, err := crashpoint.Parse(c.CrashPoint)
		if err != nil {
			return err
		}
		cp.Arm(crashpoint.OnHit(p, max(c.CrashHit, 1)), func(p crashpoint.Point) {
			aw.line("K %s", p)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour) // SIGKILL is on its way; nothing else may run
		})
	}
	o := &inmem.Options{Durability: c.Durability, SegmentSize: c.SegmentSize, CrashPoints: cp, Preparation: c.Preparation}
	for _, opt := range opts {
		opt(o)
	}
	db, err := inmem.Open(c.Dir, o)
	if err != nil {
		return err
	}
	aw.line("R %d", db.LastVersion())
	h := &childDB{db: db, dir: c.Dir, opts: o, aw: aw}
	cy := NewCycler(c.ReopenEvery, h.reopen)
	cfg := crashtest.WorkloadConfig{Seed: iterationSeed(c.Seed, c.Iteration)}
	var wg sync.WaitGroup
	for w := 1; w <= max(c.Writers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			childWriter(h, cy, crashtest.NewGenerator(cfg, uint64(w), ""), w, c.Ops, aw)
		}()
	}
	wg.Wait()
	return h.db.Close()
}

// childDB is the child's database, which a lifecycle cycle replaces: the
// writers read db only inside a Cycler's Op.
type childDB struct {
	db   *inmem.DB
	dir  string
	opts *inmem.Options
	aw   *ackWriter
}

// reopen closes the database cleanly and opens it again, reporting both.
func (h *childDB) reopen() error {
	v := h.db.LastVersion()
	h.aw.line("L closing %d", v)
	if err := h.db.Close(); err != nil {
		return err
	}
	h.aw.line("L close %d", v)
	db, err := inmem.Open(h.dir, h.opts)
	if err != nil {
		return err
	}
	h.db = db
	h.aw.line("L open %d", db.LastVersion())
	return nil
}

func childWriter(h *childDB, cy *Cycler, g *crashtest.Generator, w, ops int, aw *ackWriter) {
	for k := 1; ops == 0 || k <= ops; k++ {
		step := g.Next()
		if err := cy.Op(func() error { return childOp(h.db, step, w, k, aw) }); err != nil {
			if !errors.Is(err, errWriterStops) {
				aw.line("E %d %d %s", w, k, oneLine(err))
			}
			return
		}
	}
}

// errWriterStops ends a writer whose failure is reported already.
var errWriterStops = errors.New("the writer stops")

// childOp runs op k of writer w and reports it.
func childOp(db *inmem.DB, step crashtest.Step, w, k int, aw *ackWriter) error {
	if step.Kind != crashtest.OpWrite {
		if err := childMaintenance(db, step); err != nil {
			aw.line("E %d %d %s", w, k, oneLine(err))
			return errWriterStops
		}
		aw.line("A %d %d 0", w, k)
		return nil
	}
	var seqs []string
	v, err := db.Commit(func(tx *inmem.Tx) error {
		seqs = seqs[:0]
		for _, wr := range step.Writes {
			if wr.ExpectCurrent {
				wr.Expected = 0
				if cur, err := tx.StateGet(mustRun(tx, wr.Run), wr.Key); err == nil {
					wr.Expected = cur.Version
				}
			}
			seq, err := wr.Apply(tx)
			if err != nil {
				return err
			}
			if wr.Kind == crashtest.WriteEventAppend {
				seqs = append(seqs, fmt.Sprint(seq))
			}
		}
		aw.line("I %d %d %d", w, k, tx.Version())
		return nil
	})
	switch {
	case err == nil:
		aw.line("A %d %d %d %s", w, k, v, strings.Join(seqs, ","))
	case crashtest.ExpectedFailure(err):
		aw.line("F %d %d", w, k)
	default:
		aw.line("E %d %d %s", w, k, oneLine(err))
		return errWriterStops
	}
	return nil
}

func mustRun(tx *inmem.Tx, name string) inmem.RunID {
	id, _ := tx.GetOrCreateRun(name)
	return id
}

func childMaintenance(db *inmem.DB, s crashtest.Step) error {
	var err error
	switch s.Kind {
	case crashtest.OpFlush:
		err = db.Flush()
	case crashtest.OpCheckpoint:
		_, err = db.Checkpoint()
	case crashtest.OpCompact:
		_, err = db.Compact(s.Mode)
	}
	return err
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// ExitIfChild makes a program, a test binary typically, serve as a workload
// child when the environment says so: with ChildEnv=1 it runs ChildMain with
// args, with TargetChildEnv=1 TargetMain with args and targets, and exits
// with its status. Otherwise it returns. Call it first thing in TestMain,
// then point the testers at os.Args[0] with the same variable in Env.
func ExitIfChild(args []string, targets []crashtest.TargetConfig, opts ...ChildOption) {
	switch {
	case os.Getenv(ChildEnv) == "1":
		os.Exit(ChildMain(args, opts...))
	case os.Getenv(TargetChildEnv) == "1":
		os.Exit(TargetMain(args, targets))
	}
}
