package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Workload names, in report order.
const (
	wDurable1   = "durable-1"
	wDurable16  = "durable-16"
	wBuffered   = "buffered"
	wRecovery   = "recovery"
	wReads      = "reads"
	wReadsPar   = "reads-par"
	wCheckpoint = "checkpoint"
)

var workloads = []string{wDurable1, wDurable16, wBuffered, wRecovery, wReads, wReadsPar, wCheckpoint}

// concurrentWriters is the writer count of durable-16.
const concurrentWriters = 16

// Streams keep the keys of different workloads apart.
const (
	streamLoad = 1
	streamOne  = 2
	streamMany = 100 // + writer index
)

// Config holds the sizes of one invocation.
type Config struct {
	Root     string // data directory; each run gets a fresh subdirectory
	N        int    // keys loaded for recovery, reads and checkpoint
	Reads    int    // random gets of the reads workload
	D1       int    // puts of durable-1
	D16      int    // puts per writer of durable-16
	BN       int    // puts of buffered
	Keep     bool   // keep data directories
	Progress func(format string, args ...any)
}

// Sample is one run's figure for one engine and workload.
type Sample struct {
	Workload string
	Value    float64            // ops/s, or seconds for timed workloads
	Extra    map[string]float64 // e.g. open time, load throughput
}

// unit returns the unit of a workload's Value and whether higher is better.
func unit(w string) (string, bool) {
	switch w {
	case wRecovery, wCheckpoint:
		return "s", false
	}
	return "ops/s", true
}

// groupLoaded stands for recovery, reads and checkpoint, which share one
// loaded database.
const groupLoaded = "loaded"

// groups lists the steps of one run: each write workload on its own empty
// database, then the loaded database.
var groups = []string{wDurable1, wDurable16, wBuffered, groupLoaded}

func (e *Engine) wants(g string, want map[string]bool) bool {
	if g == groupLoaded {
		return (want[wRecovery] || want[wReads] || want[wReadsPar] || want[wCheckpoint]) && e.supports(wRecovery)
	}
	return want[g] && e.supports(g)
}

// runGroup runs one step of a run for one engine, on a fresh directory
// under dir that it removes afterwards (unless cfg.Keep).
func runGroup(e *Engine, g string, want map[string]bool, cfg *Config, dir string) ([]Sample, error) {
	d := filepath.Join(dir, g)
	var ss []Sample
	var err error
	if g == groupLoaded {
		ss, err = runLoaded(e, want, cfg, d)
	} else {
		var s Sample
		if s, err = runWrites(e, g, cfg, d); err == nil {
			ss = []Sample{s}
		}
	}
	if err != nil {
		return ss, fmt.Errorf("%s %s: %w", e.Name, g, err)
	}
	if err := cleanup(cfg, d); err != nil {
		return ss, err
	}
	os.Remove(dir) // only if empty: the last step of this engine's run
	return ss, nil
}

// runEngine runs every selected workload of one engine once.
func runEngine(e *Engine, want map[string]bool, cfg *Config, dir string) ([]Sample, error) {
	var out []Sample
	for _, g := range groups {
		if !e.wants(g, want) {
			continue
		}
		ss, err := runGroup(e, g, want, cfg, dir)
		out = append(out, ss...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func cleanup(cfg *Config, d string) error {
	if cfg.Keep {
		return nil
	}
	return os.RemoveAll(d)
}

// runWrites times durable-1, durable-16 or buffered on an empty database,
// then checks (untimed) that every key reads back.
func runWrites(e *Engine, w string, cfg *Config, dir string) (Sample, error) {
	mode, writers, per := Durable, 1, cfg.D1
	switch w {
	case wDurable16:
		writers, per = concurrentWriters, cfg.D16
	case wBuffered:
		mode, per = Buffered, cfg.BN
	}
	st, err := e.Open(dir, OpenOptions{Mode: mode, Writers: writers})
	if err != nil {
		return Sample{}, err
	}
	stream := func(g int) uint64 {
		if writers == 1 {
			return streamOne
		}
		return streamMany + uint64(g)
	}
	elapsed, err := putConcurrently(st, writers, per, stream)
	if err == nil {
		err = verify(st, writers, per, stream)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Sample{}, err
	}
	return Sample{Workload: w, Value: float64(writers*per) / elapsed.Seconds()}, nil
}

// putConcurrently starts writers goroutines that each put per keys of their
// stream, and returns the wall time from start until the last put returned.
func putConcurrently(st Store, writers, per int, stream func(int) uint64) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, v := make([]byte, keySize), make([]byte, valueSize)
			s := stream(g)
			<-start
			for i := range per {
				if err := st.Put(key(k, s, uint64(i)), value(v, s, uint64(i))); err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return elapsed, err
		}
	}
	return elapsed, nil
}

func verify(st Store, writers, per int, stream func(int) uint64) error {
	k, v, got := make([]byte, keySize), make([]byte, valueSize), make([]byte, 0, valueSize)
	for g := range writers {
		s := stream(g)
		for i := range per {
			var err error
			if got, err = st.Get(key(k, s, uint64(i)), got[:0]); err != nil {
				return fmt.Errorf("read back key %d of writer %d: %w", i, g, err)
			}
			if !bytes.Equal(got, value(v, s, uint64(i))) {
				return fmt.Errorf("read back key %d of writer %d: wrong value", i, g)
			}
		}
	}
	return nil
}

// runLoaded loads cfg.N keys with buffered single puts, closes, then times
// recovery (open + read every key back), random point reads and a
// checkpoint on the reopened database.
func runLoaded(e *Engine, want map[string]bool, cfg *Config, dir string) ([]Sample, error) {
	loadRate, err := load(e, cfg, dir)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	t0 := time.Now()
	st, err := e.Open(dir, OpenOptions{Mode: Durable, Writers: 1})
	if err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	open := time.Since(t0)
	err = verify(st, 1, cfg.N, func(int) uint64 { return streamLoad })
	recovery := time.Since(t0)
	var out []Sample
	if err == nil && want[wRecovery] {
		out = append(out, Sample{Workload: wRecovery, Value: recovery.Seconds(),
			Extra: map[string]float64{"open_s": open.Seconds(), "load_ops_per_s": loadRate}})
	}
	if err == nil && want[wReads] {
		var rate float64
		if rate, err = pointReads(st, cfg); err == nil {
			out = append(out, Sample{Workload: wReads, Value: rate})
		}
	}
	if err == nil && want[wReadsPar] {
		var rate float64
		if rate, err = parallelReads(st, cfg); err == nil {
			out = append(out, Sample{Workload: wReadsPar, Value: rate})
		}
	}
	if c, ok := st.(Checkpointer); err == nil && ok && want[wCheckpoint] {
		t0 := time.Now()
		if err = c.Checkpoint(filepath.Join(dir, "checkpoint")); err == nil {
			out = append(out, Sample{Workload: wCheckpoint, Value: time.Since(t0).Seconds()})
		}
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// load puts cfg.N keys one put (one transaction) at a time in buffered
// mode and closes the database. It returns the put rate.
func load(e *Engine, cfg *Config, dir string) (float64, error) {
	st, err := e.Open(dir, OpenOptions{Mode: Buffered, Writers: 1})
	if err != nil {
		return 0, err
	}
	elapsed, err := putConcurrently(st, 1, cfg.N, func(int) uint64 { return streamLoad })
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return float64(cfg.N) / elapsed.Seconds(), err
}

// pointReads does cfg.Reads gets of uniformly random loaded keys, each
// checked, and returns the rate.
func pointReads(st Store, cfg *Config) (float64, error) {
	t0 := time.Now()
	if err := readKeys(st, cfg, 7, cfg.Reads); err != nil {
		return 0, err
	}
	return float64(cfg.Reads) / time.Since(t0).Seconds(), nil
}

// parallelReads is pointReads from GOMAXPROCS goroutines at once, each
// doing its share of cfg.Reads: the total rate.
func parallelReads(st Store, cfg *Config) (float64, error) {
	g := runtime.GOMAXPROCS(0)
	per := max(cfg.Reads/g, 1)
	errs := make([]error, g)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = readKeys(st, cfg, uint64(100+i), per)
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(g*per) / elapsed.Seconds(), nil
}

// readKeys does n gets of random loaded keys (drawn with seed), each
// checked.
func readKeys(st Store, cfg *Config, seed uint64, n int) error {
	rng := rand.New(rand.NewPCG(seed, 11))
	k, got := make([]byte, keySize), make([]byte, 0, valueSize)
	for range n {
		i := uint64(rng.IntN(cfg.N))
		var err error
		if got, err = st.Get(key(k, streamLoad, i), got[:0]); err != nil {
			return fmt.Errorf("get key %d: %w", i, err)
		}
		if len(got) != valueSize || binary.LittleEndian.Uint64(got) != valueHead(streamLoad, i) {
			return fmt.Errorf("get key %d: wrong value", i)
		}
	}
	return nil
}
