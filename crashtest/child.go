package crashtest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
)

// The workload child: a process that opens a database, runs a seeded
// workload with concurrent writers and reports on an acknowledgement pipe,
// line by line:
//
//	R <version>             opened; the recovered last version
//	I <writer> <op> <ver>   the op's transaction will commit as <ver> if it
//	                        commits: an announcement, not an acknowledgement
//	A <writer> <op> <ver> [<seq>,...]
//	                        the op was acknowledged (ver 0 for maintenance)
//	F <writer> <op>         the op failed before committing (a CAS mismatch,
//	                        a delete of a missing key): nothing was written
//	E <writer> <op> <msg>   the op failed with an unexpected error: its
//	                        outcome is unknown; the writer stops
//	K <point>               a whitebox crash point fired; SIGKILL follows
//
// An A line is written only after the database returned: nothing is
// reported as acknowledged before it is. Each line is one write(2) of at
// most PIPE_BUF bytes, so concurrent writers never interleave.

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
}

// args returns the command line flags ChildMain parses back.
func (c ChildConfig) args() []string {
	a := []string{"--dir", c.Dir, "--seed", fmt.Sprint(c.Seed), "--iteration", fmt.Sprint(c.Iteration),
		"--writers", fmt.Sprint(c.Writers), "--ops", fmt.Sprint(c.Ops), "--durability", c.Durability.String(),
		"--segment-size", fmt.Sprint(c.SegmentSize)}
	if c.CrashPoint != "" {
		a = append(a, "--crash-point", c.CrashPoint, "--crash-hit", fmt.Sprint(c.CrashHit))
	}
	return a
}

// ChildMain is the workload child's entry point: cmd/inmem runs it as the
// hidden command "inmem crash child", and tests run it from TestMain when
// the environment names the child (see ChildEnv). The acknowledgement pipe
// is file descriptor 3. It returns the exit status.
func ChildMain(args []string) int {
	fs := flag.NewFlagSet("inmem crash child", flag.ContinueOnError)
	var c ChildConfig
	var durability string
	fs.StringVar(&c.Dir, "dir", "", "database directory")
	fs.Uint64Var(&c.Seed, "seed", 1, "workload seed")
	fs.IntVar(&c.Iteration, "iteration", 0, "iteration number (mixed into the seed)")
	fs.IntVar(&c.Writers, "writers", 4, "concurrent writers")
	fs.IntVar(&c.Ops, "ops", 0, "operations per writer (0: until killed)")
	fs.StringVar(&durability, "durability", "strict", "strict, buffered or inmemory")
	fs.Int64Var(&c.SegmentSize, "segment-size", 64<<10, "WAL segment size")
	fs.StringVar(&c.CrashPoint, "crash-point", "", "SIGKILL self at this crash point")
	fs.Uint64Var(&c.CrashHit, "crash-hit", 1, "at this hit of the crash point")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := inmem.ParseDurability(durability)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c.Durability = d
	acks := os.NewFile(3, "acks")
	if acks == nil {
		fmt.Fprintln(os.Stderr, "inmem crash child: file descriptor 3 (the acknowledgement pipe) is not open")
		return 2
	}
	if err := RunChild(c, acks); err != nil {
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

// ackWriter writes acknowledgement lines, one write each.
type ackWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *ackWriter) line(format string, args ...any) {
	s := fmt.Sprintf(format, args...) + "\n"
	a.mu.Lock()
	a.w.Write([]byte(s))
	a.mu.Unlock()
}

// RunChild runs the child's workload, reporting on acks.
func RunChild(c ChildConfig, acks io.Writer) error {
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
	db, err := inmem.Open(c.Dir, &inmem.Options{Durability: c.Durability, SegmentSize: c.SegmentSize, CrashPoints: cp})
	if err != nil {
		return err
	}
	aw.line("R %d", db.LastVersion())
	cfg := WorkloadConfig{Seed: iterationSeed(c.Seed, c.Iteration)}
	var wg sync.WaitGroup
	for w := 1; w <= max(c.Writers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			childWriter(db, NewGenerator(cfg, uint64(w), ""), w, c.Ops, aw)
		}()
	}
	wg.Wait()
	return db.Close()
}

func childWriter(db *inmem.DB, g *Generator, w, ops int, aw *ackWriter) {
	for k := 1; ops == 0 || k <= ops; k++ {
		step := g.Next()
		if step.Kind != OpWrite {
			if err := childMaintenance(db, step); err != nil {
				aw.line("E %d %d %s", w, k, oneLine(err))
				return
			}
			aw.line("A %d %d 0", w, k)
			continue
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
				seq, err := applyWrite(tx, wr)
				if err != nil {
					return err
				}
				if wr.Kind == WriteEventAppend {
					seqs = append(seqs, fmt.Sprint(seq))
				}
			}
			aw.line("I %d %d %d", w, k, tx.Version())
			return nil
		})
		switch {
		case err == nil:
			aw.line("A %d %d %d %s", w, k, v, strings.Join(seqs, ","))
		case expectedFailure(err):
			aw.line("F %d %d", w, k)
		default:
			aw.line("E %d %d %s", w, k, oneLine(err))
			return
		}
	}
}

func mustRun(tx *inmem.Tx, name string) inmem.RunID {
	id, _ := tx.GetOrCreateRun(name)
	return id
}

func childMaintenance(db *inmem.DB, s Step) error {
	var err error
	switch s.Kind {
	case OpFlush:
		err = db.Flush()
	case OpCheckpoint:
		_, err = db.Checkpoint()
	case OpCompact:
		_, err = db.Compact(s.Mode)
	}
	return err
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// ackLine is one parsed acknowledgement line.
type ackLine struct {
	kind    byte
	writer  int
	op      int
	version inmem.Version
	seqs    []uint64
	text    string
}

func parseAck(s string) (ackLine, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f[0]) != 1 {
		return ackLine{}, fmt.Errorf("bad acknowledgement line %q", s)
	}
	l := ackLine{kind: f[0][0]}
	num := func(i int) uint64 {
		if i >= len(f) {
			return 0
		}
		n, _ := strconv.ParseUint(f[i], 10, 64)
		return n
	}
	switch l.kind {
	case 'R':
		l.version = inmem.Version(num(1))
	case 'K':
		if len(f) > 1 {
			l.text = f[1]
		}
	case 'I', 'A', 'F', 'E':
		if len(f) < 3 {
			return ackLine{}, fmt.Errorf("bad acknowledgement line %q", s)
		}
		l.writer, l.op, l.version = int(num(1)), int(num(2)), inmem.Version(num(3))
		if l.kind == 'A' && len(f) > 4 {
			for _, x := range strings.Split(f[4], ",") {
				n, err := strconv.ParseUint(x, 10, 64)
				if err != nil {
					return ackLine{}, fmt.Errorf("bad sequence in %q", s)
				}
				l.seqs = append(l.seqs, n)
			}
		}
		if l.kind == 'E' {
			l.version, l.text = 0, strings.Join(f[3:], " ")
		}
	default:
		return ackLine{}, fmt.Errorf("unknown acknowledgement line %q", s)
	}
	return l, nil
}

// readAcks parses lines from r until EOF.
func readAcks(r io.Reader, out chan<- ackLine, errs chan<- error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l, err := parseAck(sc.Text())
		if err != nil {
			errs <- err
			continue
		}
		out <- l
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		errs <- err
	}
	close(out)
}
