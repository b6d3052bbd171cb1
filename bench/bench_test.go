package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// tinyConfig is small enough that every engine × workload runs in seconds;
// the workloads read every key back themselves, so a pass means every
// engine stored and returned every value.
func tinyConfig(t *testing.T) *Config {
	return &Config{Root: t.TempDir(), N: 500, Reads: 500, D1: 20, D16: 5, BN: 500,
		Progress: func(string, ...any) {}}
}

func allWorkloads() map[string]bool {
	want, _ := selectWorkloads("all")
	return want
}

func TestEngines_AllWorkloads(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			cfg := tinyConfig(t)
			ss, err := runEngine(e, allWorkloads(), cfg, cfg.Root)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, s := range ss {
				if !(s.Value > 0) {
					t.Errorf("%s: figure %v is not positive", s.Workload, s.Value)
				}
				got[s.Workload] = true
			}
			for _, w := range workloads {
				if e.supports(w) && !got[w] {
					t.Errorf("workload %s produced no figure", w)
				}
			}
		})
	}
}

func TestKeys_Distinct(t *testing.T) {
	seen := map[string]bool{}
	k := make([]byte, keySize)
	for _, s := range []uint64{streamLoad, streamOne, streamMany, streamMany + 15} {
		for i := range uint64(10_000) {
			ks := string(key(k, s, i))
			if seen[ks] {
				t.Fatalf("key %q repeats (stream %d, op %d)", ks, s, i)
			}
			seen[ks] = true
		}
	}
}

func TestValueHead_MatchesValue(t *testing.T) {
	v := make([]byte, valueSize)
	for i := range uint64(100) {
		b := value(v, streamLoad, i)
		if got := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56; got != valueHead(streamLoad, i) {
			t.Fatalf("op %d: head %x, valueHead %x", i, got, valueHead(streamLoad, i))
		}
	}
}

func TestReport_Markdown(t *testing.T) {
	samples := map[string][]Sample{}
	for _, run := range []float64{1, 2, 3} {
		for _, e := range engines {
			for _, w := range workloads {
				if e.supports(w) {
					samples[e.Name] = append(samples[e.Name], Sample{Workload: w, Value: run * float64(1+engineIndex(e))})
				}
			}
		}
	}
	rep := &Report{Config: map[string]int{"runs": 3}, Machine: map[string]string{"nproc": "2"}}
	rep.finish(engines, samples)
	md := rep.Markdown()
	for _, want := range []string{"| in-mem |", "| raw-gc |", "durable-16", "### Targets", "**missed**"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not encode: %v", err)
	}
	c := find(rep.Cells, "pebble", wReads)
	if c == nil || c.Median != 6 || c.Min != 3 || c.Max != 9 {
		t.Fatalf("pebble reads cell = %+v, want median 6, min 3, max 9", c)
	}
	// in-mem (index 0, figures 1..3) against pebble (index 2, 3..9): reads
	// are ops/s, so in-mem is 2/6 as fast; recovery is seconds, so 6/2.
	for _, r := range rep.Ratios {
		if r.Kind == "pebble" && r.Workload == wReads && r.X != 2.0/6 {
			t.Errorf("reads ratio to pebble = %v, want %v", r.X, 2.0/6)
		}
		if r.Kind == "pebble" && r.Workload == wRecovery && r.X != 3 {
			t.Errorf("recovery ratio to pebble = %v, want 3", r.X)
		}
	}
}

func TestMedian(t *testing.T) {
	tcs := []struct {
		name          string
		in            []float64
		med, min, max float64
	}{
		{"one", []float64{4}, 4, 4, 4},
		{"odd", []float64{3, 1, 2}, 2, 1, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1, 4},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			med, lo, hi := median(tc.in)
			if med != tc.med || lo != tc.min || hi != tc.max {
				t.Fatalf("median(%v) = %v, %v, %v; want %v, %v, %v", tc.in, med, lo, hi, tc.med, tc.min, tc.max)
			}
		})
	}
}
