package proc

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/in-mem/inmem/crashtest"
)

// The target child: a process that drives a Target. It has three commands.
//
//	child   opens the store and runs the key/value workload: every writer
//	        puts sequential keys with unique values (and syncs every so
//	        often), reporting on the acknowledgement pipe (fd 3) in the
//	        in-mem child's grammar, with version 0:
//	          R 0            opened
//	          I <w> <k> 0    op k of writer w is about to be issued
//	          A <w> <k> 0    op k returned: acknowledged
//	          E <w> <k> msg  op k failed; its outcome is unknown; the writer stops
//	check   opens the store after a crash and, for every key read from stdin
//	        (one a line), writes "V <key> <hex value>", "M <key>" (missing) or
//	        "G <key> <error>"; first "O" (opened) or "X <error>" (it did not
//	        open), last "P ok" or "P <error>" (a put and get after recovery)
//	        and "C ok" or "C <error>" (close). A panic of the engine is
//	        reported as an error, not a crash of the checker.
//	list    writes each configuration: "<name> safe|unsafe <about>".

// TargetWorkload is the key/value workload a Target child runs.
type TargetWorkload struct {
	// Name is the target configuration, as the child binary knows it.
	Name string
	// PowerSafe is the configuration's promise (see TargetConfig); the
	// testers fill it in by asking the binary ("list").
	PowerSafe bool
	// SyncEvery makes every writer call Sync after every n puts (0: never).
	SyncEvery int
	// ValueSize is the size of every value (default 100 bytes).
	ValueSize int
}

// TargetChildConfig configures one run of the target child.
type TargetChildConfig struct {
	Target    string
	Dir       string
	Seed      uint64
	Iteration int
	Writers   int
	Ops       int // per writer; 0: until killed
	SyncEvery int
	ValueSize int
}

func (c TargetChildConfig) args() []string {
	return []string{"child", "--target", c.Target, "--dir", c.Dir, "--seed", fmt.Sprint(c.Seed), "--iteration", fmt.Sprint(c.Iteration),
		"--writers", fmt.Sprint(c.Writers), "--ops", fmt.Sprint(c.Ops), "--sync-every", fmt.Sprint(c.SyncEvery),
		"--value-size", fmt.Sprint(c.ValueSize)}
}

// TargetChildEnv is the environment variable that makes a test binary run
// TargetMain instead of its tests (see crashtargets).
const TargetChildEnv = "INMEM_CRASHTEST_TARGET_CHILD"

// TargetKey is the key op k of writer w puts in an iteration.
func TargetKey(iteration, writer, k int) string {
	return fmt.Sprintf("i%05d/w%02d/%08d", iteration, writer, k)
}

// TargetValue is the unique value put under key: it names the key and the
// seed, padded to size bytes.
func TargetValue(seed uint64, key string, size int) []byte {
	v := fmt.Sprintf("%s=s%d;", key, seed)
	if len(v) < size {
		v += strings.Repeat(".", size-len(v))
	}
	return []byte(v)
}

// isTargetSync reports whether op k of a writer is a Sync.
func isTargetSync(k, syncEvery int) bool { return syncEvery > 0 && k%(syncEvery+1) == 0 }

func valueSize(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

// TargetMain is the target child's entry point (see the commands above):
// args[0] is child, check or list. The crashtargets module's binary calls it
// with bbolt and SQLite; `inmem crash target-child` with InmemTargets. It
// returns the exit status.
func TargetMain(args []string, targets []crashtest.TargetConfig) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "target child: want a command: child, check or list")
		return 2
	}
	switch args[0] {
	case "list":
		for _, t := range targets {
			safety := "unsafe"
			if t.PowerSafe {
				safety = "safe"
			}
			fmt.Printf("%s %s %s\n", t.Name, safety, t.About)
		}
		return 0
	case "child", "check":
	default:
		fmt.Fprintf(os.Stderr, "target child: unknown command %q: want child, check or list\n", args[0])
		return 2
	}
	var c TargetChildConfig
	fs := flag.NewFlagSet("target "+args[0], flag.ContinueOnError)
	fs.StringVar(&c.Target, "target", "", "target configuration")
	fs.StringVar(&c.Dir, "dir", "", "store directory")
	fs.Uint64Var(&c.Seed, "seed", 1, "workload seed")
	fs.IntVar(&c.Iteration, "iteration", 0, "iteration (part of every key)")
	fs.IntVar(&c.Writers, "writers", 4, "concurrent writers")
	fs.IntVar(&c.Ops, "ops", 0, "operations per writer (0: until killed)")
	fs.IntVar(&c.SyncEvery, "sync-every", 0, "sync after every n puts (0: never)")
	fs.IntVar(&c.ValueSize, "value-size", 100, "bytes per value")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	tc, err := lookupTarget(targets, c.Target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if args[0] == "check" {
		if err := RunTargetCheck(tc, c.Dir, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "target check:", err)
			return 1
		}
		return 0
	}
	acks := os.NewFile(3, "acks")
	if acks == nil {
		fmt.Fprintln(os.Stderr, "target child: file descriptor 3 (the acknowledgement pipe) is not open")
		return 2
	}
	if err := RunTargetChild(c, tc, acks); err != nil {
		fmt.Fprintln(os.Stderr, "target child:", err)
		return 1
	}
	return 0
}

// RunTargetChild opens the target and runs the key/value workload,
// reporting on acks.
func RunTargetChild(c TargetChildConfig, tc crashtest.TargetConfig, acks io.Writer) error {
	aw := &ackWriter{w: acks}
	t, err := tc.Open(c.Dir)
	if err != nil {
		return fmt.Errorf("open %s in %s: %w", tc.Name, c.Dir, err)
	}
	aw.line("R 0")
	var wg sync.WaitGroup
	for w := 1; w <= max(c.Writers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			targetWriter(t, c, w, aw)
		}()
	}
	wg.Wait()
	return t.Close()
}

func targetWriter(t crashtest.Target, c TargetChildConfig, w int, aw *ackWriter) {
	for k := 1; c.Ops == 0 || k <= c.Ops; k++ {
		aw.line("I %d %d 0", w, k)
		var err error
		if isTargetSync(k, c.SyncEvery) {
			err = t.Sync()
		} else {
			key := TargetKey(c.Iteration, w, k)
			err = t.Put([]byte(key), TargetValue(c.Seed, key, valueSize(c.ValueSize)))
		}
		if err != nil {
			aw.line("E %d %d %s", w, k, oneLine(err))
			return
		}
		aw.line("A %d %d 0", w, k)
	}
}

// RunTargetCheck opens the target after a crash and reports, in the check
// protocol, the value of every key read from keys.
func RunTargetCheck(tc crashtest.TargetConfig, dir string, keys io.Reader, out io.Writer) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	var t crashtest.Target
	if err := guard(func() (err error) { t, err = tc.Open(dir); return err }); err != nil {
		fmt.Fprintf(w, "X %s\n", oneLine(err))
		return nil
	}
	fmt.Fprintln(w, "O")
	sc := bufio.NewScanner(keys)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		key := strings.TrimSpace(sc.Text())
		if key == "" {
			continue
		}
		var v []byte
		var found bool
		err := guard(func() (err error) { v, found, err = t.Get([]byte(key)); return err })
		switch {
		case err != nil:
			fmt.Fprintf(w, "G %s %s\n", key, oneLine(err))
		case found:
			fmt.Fprintf(w, "V %s %s\n", key, hex.EncodeToString(v))
		default:
			fmt.Fprintf(w, "M %s\n", key)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "P %s\n", okOr(guard(func() error { return probeTarget(t) })))
	fmt.Fprintf(w, "C %s\n", okOr(guard(t.Close)))
	return nil
}

// probeTarget puts a pair after recovery and reads it back.
func probeTarget(t crashtest.Target) error {
	key, val := []byte("crashtest-probe"), []byte("written after recovery")
	if err := t.Put(key, val); err != nil {
		return err
	}
	got, found, err := t.Get(key)
	switch {
	case err != nil:
		return err
	case !found || string(got) != string(val):
		return fmt.Errorf("the probe read back %q (found %v)", got, found)
	}
	return nil
}

// guard runs fn, turning a panic (an engine tripping over a damaged file)
// into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn()
}

func okOr(err error) string {
	if err != nil {
		return oneLine(err)
	}
	return "ok"
}

// lookupTarget finds the configuration named name.
func lookupTarget(targets []crashtest.TargetConfig, name string) (crashtest.TargetConfig, error) {
	var names []string
	for _, t := range targets {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return crashtest.TargetConfig{}, fmt.Errorf("crashtest: unknown target %q (known: %s)", name, strings.Join(names, ", "))
}
