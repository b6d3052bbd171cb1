// Command bench compares in-mem with peer embedded engines (bbolt, Pebble,
// Badger, SQLite) and with the raw fdatasync limit of the disk.
//
//	cd bench && go run . -all
//
// prints a Markdown table of engines × workloads and writes it, with the
// per-run figures, to results/latest.md and results/latest.json. See
// README.md for the workloads and how to read the figures.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

type flags struct {
	all, keep                      bool
	engines, workloads, dir, out   string
	runs, n, reads, d1, d16, bn    int
	cpuProfile, blockProf, mutProf string
	from                           string
}

func parseFlags(args []string) (*flags, error) {
	var f flags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&f.all, "all", false, "run every engine and workload (overrides -engines and -workloads)")
	fs.StringVar(&f.engines, "engines", "all", "comma-separated engines: "+strings.Join(engineNames(), ","))
	fs.StringVar(&f.workloads, "workloads", "all", "comma-separated workloads: "+strings.Join(workloads, ","))
	fs.IntVar(&f.runs, "runs", 3, "runs per figure; the table shows the median and min–max")
	fs.IntVar(&f.n, "n", 1_000_000, "keys loaded for recovery, reads and checkpoint")
	fs.IntVar(&f.reads, "reads", 0, "random gets of the reads workload (0 = n)")
	fs.IntVar(&f.d1, "d1", 10000, "puts of durable-1")
	fs.IntVar(&f.d16, "d16", 2000, "puts per writer of durable-16")
	fs.IntVar(&f.bn, "bn", 200_000, "puts of buffered")
	fs.StringVar(&f.dir, "dir", "", "data directory (default: a new temporary directory, removed afterwards)")
	fs.StringVar(&f.out, "out", "results", "directory for latest.md and latest.json")
	fs.BoolVar(&f.keep, "keep", false, "keep the databases")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole invocation")
	fs.StringVar(&f.blockProf, "blockprofile", "", "write a blocking profile")
	fs.StringVar(&f.mutProf, "mutexprofile", "", "write a mutex contention profile")
	fs.StringVar(&f.from, "from", "", "run nothing: re-render the Markdown of an earlier latest.json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.all {
		f.engines, f.workloads = "all", "all"
	}
	if f.reads == 0 {
		f.reads = f.n
	}
	if f.runs < 1 || f.n < 1 || f.d1 < 1 || f.d16 < 1 || f.bn < 1 || f.reads < 1 {
		return nil, fmt.Errorf("sizes and -runs must be positive")
	}
	return &f, nil
}

func selectWorkloads(list string) (map[string]bool, error) {
	want := map[string]bool{}
	if list == "" || list == "all" {
		for _, w := range workloads {
			want[w] = true
		}
		return want, nil
	}
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		ok := false
		for _, x := range workloads {
			ok = ok || x == w
		}
		if !ok {
			return nil, fmt.Errorf("unknown workload %q (have %s)", w, strings.Join(workloads, ", "))
		}
		want[w] = true
	}
	return want, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err == nil {
		err = realMain(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func realMain(f *flags) error {
	if f.from != "" {
		return rerender(f.from)
	}
	es, err := selectEngines(f.engines)
	if err != nil {
		return err
	}
	want, err := selectWorkloads(f.workloads)
	if err != nil {
		return err
	}
	root, done, err := dataDir(f)
	if err != nil {
		return err
	}
	defer done()
	stop, err := startProfiles(f)
	if err != nil {
		return err
	}
	cfg := &Config{Root: root, N: f.n, Reads: f.reads, D1: f.d1, D16: f.d16, BN: f.bn, Keep: f.keep,
		Progress: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }}
	rep := &Report{Command: command(), Machine: machine(root), StartLoad: loadAvg(),
		Config: map[string]int{"runs": f.runs, "n": f.n, "reads": f.reads, "d1": f.d1, "d16": f.d16, "bn": f.bn}}
	t0 := time.Now()
	samples, err := runAll(es, want, cfg, f.runs)
	stop()
	if err != nil {
		return err
	}
	rep.EndLoad, rep.Seconds = loadAvg(), time.Since(t0).Seconds()
	rep.finish(es, samples)
	md := rep.Markdown()
	fmt.Print(md)
	return writeResults(f.out, rep, md)
}

// runAll interleaves the engines within each workload of each run, so
// the figures compared with each other were taken minutes apart at most
// and a drift in the machine's load spreads over every engine.
func runAll(es []*Engine, want map[string]bool, cfg *Config, runs int) (map[string][]Sample, error) {
	samples := map[string][]Sample{}
	for r := 1; r <= runs; r++ {
		for _, g := range groups {
			for _, e := range es {
				if !e.wants(g, want) {
					continue
				}
				ss, err := runGroup(e, g, want, cfg, filepath.Join(cfg.Root, fmt.Sprintf("%s-run%d", e.Name, r)))
				for _, s := range ss {
					u, _ := unit(s.Workload)
					cfg.Progress("run %d/%d  %-7s %-11s %s", r, runs, e.Name, s.Workload, human(s.Value, u))
				}
				samples[e.Name] = append(samples[e.Name], ss...)
				if err != nil {
					return nil, err
				}
				runtime.GC()
			}
		}
	}
	return samples, nil
}

func (r *Report) finish(es []*Engine, samples map[string][]Sample) {
	r.Cells = collect(samples)
	r.Ratios = ratios(r.Cells)
	r.Targets = targets(r.Ratios)
	for _, e := range es {
		r.Modes = append(r.Modes, ModeLegend{Engine: e.Name, Durable: e.DurableMode, Buffered: e.BufferedMode, Checkpoint: e.CheckpointOp})
	}
}

func dataDir(f *flags) (string, func(), error) {
	if f.dir != "" {
		if err := os.MkdirAll(f.dir, 0o755); err != nil {
			return "", nil, err
		}
		abs, err := filepath.Abs(f.dir)
		return abs, func() {}, err
	}
	d, err := os.MkdirTemp("", "inmem-bench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() {
		if !f.keep {
			os.RemoveAll(d)
		}
	}, nil
}

func command() string {
	return "cd bench && go run . " + strings.Join(os.Args[1:], " ")
}

func writeResults(dir string, rep *Report, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md), 0o644)
}

func startProfiles(f *flags) (stop func(), err error) {
	var cpu *os.File
	if f.cpuProfile != "" {
		if cpu, err = os.Create(f.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			return nil, err
		}
	}
	if f.blockProf != "" {
		runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
	}
	if f.mutProf != "" {
		runtime.SetMutexProfileFraction(10)
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		writeProfile("block", f.blockProf)
		writeProfile("mutex", f.mutProf)
	}, nil
}

func writeProfile(name, path string) {
	if path == "" {
		return
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	defer out.Close()
	if err := pprof.Lookup(name).WriteTo(out, 0); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

// rerender prints the Markdown of a saved report, recomputing ratios and
// targets from its per-run figures.
func rerender(path string) error {
	js, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(js, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.Ratios = ratios(rep.Cells)
	rep.Targets = targets(rep.Ratios)
	fmt.Print(rep.Markdown())
	return nil
}
