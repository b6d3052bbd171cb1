package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Cell is one engine × workload figure over all runs.
type Cell struct {
	Engine   string             `json:"engine"`
	Workload string             `json:"workload"`
	Mode     string             `json:"mode"`
	Unit     string             `json:"unit"`
	Higher   bool               `json:"higher_is_better"`
	Runs     []float64          `json:"runs"`
	Median   float64            `json:"median"`
	Min      float64            `json:"min"`
	Max      float64            `json:"max"`
	Extra    map[string]float64 `json:"extra_median,omitempty"`
}

// Ratio compares in-mem with another engine on one workload. X > 1 means
// in-mem is faster: ops/s divided, or seconds divided the other way.
//
// X compares the medians; Lo and Hi are the smallest and largest ratio of
// the two engines' figures from the same run (run i against run i), the
// spread of the comparison itself.
type Ratio struct {
	Workload string  `json:"workload"`
	Against  string  `json:"against"`
	Kind     string  `json:"kind"` // "best peer", "raw", "raw-gc", or a named target peer
	X        float64 `json:"x"`
	Lo       float64 `json:"per_run_min"`
	Hi       float64 `json:"per_run_max"`
}

func newRatio(w, kind string, a, b *Cell) Ratio {
	r := Ratio{Workload: w, Against: b.Engine, Kind: kind, X: speedup(a, b), Lo: math.Inf(1), Hi: math.Inf(-1)}
	for i := range min(len(a.Runs), len(b.Runs)) {
		x := b.Runs[i] / a.Runs[i]
		if a.Higher {
			x = 1 / x
		}
		r.Lo, r.Hi = min(r.Lo, x), max(r.Hi, x)
	}
	if math.IsInf(r.Lo, 0) {
		r.Lo, r.Hi = r.X, r.X
	}
	return r
}

func (r Ratio) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprintf("%.2f×", r.X)
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", r.X, r.Lo, r.Hi)
}

// Target is one goal from the issue, checked against a run's ratios.
type Target struct {
	Name     string  `json:"name"`
	Workload string  `json:"workload"`
	Against  string  `json:"against"`
	Want     float64 `json:"want_x"`
	Got      float64 `json:"got_x"`
	Lo       float64 `json:"per_run_min"`
	Hi       float64 `json:"per_run_max"`
	Met      bool    `json:"met"`
	Measured bool    `json:"measured"`
}

// Report is everything one invocation produced.
type Report struct {
	Command   string            `json:"command"`
	Machine   map[string]string `json:"machine"`
	Config    map[string]int    `json:"config"`
	Cells     []*Cell           `json:"cells"`
	Ratios    []Ratio           `json:"ratios"`
	Targets   []Target          `json:"targets"`
	Modes     []ModeLegend      `json:"modes"`
	StartLoad string            `json:"loadavg_start"`
	EndLoad   string            `json:"loadavg_end"`
	Seconds   float64           `json:"wall_seconds"`
}

// ModeLegend says what each engine ran as.
type ModeLegend struct {
	Engine     string `json:"engine"`
	Durable    string `json:"durable"`
	Buffered   string `json:"buffered,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

func median(xs []float64) (med, lo, hi float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// collect turns per-run samples into cells.
func collect(samples map[string][]Sample) []*Cell {
	var cells []*Cell
	for _, e := range engines {
		byW := map[string]*Cell{}
		extras := map[string]map[string][]float64{}
		for _, s := range samples[e.Name] {
			c := byW[s.Workload]
			if c == nil {
				u, higher := unit(s.Workload)
				c = &Cell{Engine: e.Name, Workload: s.Workload, Mode: modeOf(e, s.Workload), Unit: u, Higher: higher}
				byW[s.Workload] = c
				extras[s.Workload] = map[string][]float64{}
			}
			c.Runs = append(c.Runs, s.Value)
			for k, v := range s.Extra {
				extras[s.Workload][k] = append(extras[s.Workload][k], v)
			}
		}
		for _, w := range workloads {
			c := byW[w]
			if c == nil {
				continue
			}
			c.Median, c.Min, c.Max = median(c.Runs)
			for k, vs := range extras[w] {
				if c.Extra == nil {
					c.Extra = map[string]float64{}
				}
				c.Extra[k], _, _ = median(vs)
			}
			cells = append(cells, c)
		}
	}
	return cells
}

func modeOf(e *Engine, w string) string {
	switch w {
	case wBuffered:
		return e.BufferedMode
	case wCheckpoint:
		return e.CheckpointOp
	}
	return e.DurableMode
}

func find(cells []*Cell, engine, w string) *Cell {
	for _, c := range cells {
		if c.Engine == engine && c.Workload == w {
			return c
		}
	}
	return nil
}

// speedup is how many times faster a is than b.
func speedup(a, b *Cell) float64 {
	if a.Higher {
		return a.Median / b.Median
	}
	return b.Median / a.Median
}

// bestPeer returns the peer with the best median on w.
func bestPeer(cells []*Cell, w string) *Cell {
	var best *Cell
	for _, e := range engines {
		c := find(cells, e.Name, w)
		if c == nil || !e.Peer {
			continue
		}
		if best == nil || speedup(c, best) > 1 {
			best = c
		}
	}
	return best
}

// ratios compares in-mem with the best peer and the raw baselines of the
// same run, and with the peers the targets name.
func ratios(cells []*Cell) []Ratio {
	var out []Ratio
	for _, w := range workloads {
		im := find(cells, inmemEngine.Name, w)
		if im == nil {
			continue
		}
		if b := bestPeer(cells, w); b != nil {
			out = append(out, newRatio(w, "best peer", im, b))
		}
		for _, base := range []string{rawEngine.Name, rawGroupEngine.Name, rawOverwriteEngine.Name, pebbleEngine.Name, sqliteEngine.Name} {
			if c := find(cells, base, w); c != nil {
				out = append(out, newRatio(w, base, im, c))
			}
		}
	}
	return out
}

// targetSpecs are the goals: in-mem at least Want times as fast as
// Against on Workload.
var targetSpecs = []Target{
	{Name: "Strict durable-1 ≥ 1.25 × raw append+fdatasync loop", Workload: wDurable1, Against: "raw", Want: 1.25},
	{Name: "Strict durable-1 vs raw overwrite+fdatasync (the physical limit; no target)", Workload: wDurable1, Against: "raw-ow", Want: 0},
	{Name: "Strict durable-16 ≥ 1.15 × Pebble Sync", Workload: wDurable16, Against: "pebble", Want: 1.15},
	{Name: "Buffered ≥ 1.1 × Pebble NoSync", Workload: wBuffered, Against: "pebble", Want: 1.1},
	{Name: "point reads ≥ 0.9 × raw map", Workload: wReads, Against: "raw", Want: 0.9},
	{Name: "parallel point reads ≥ 0.9 × raw map", Workload: wReadsPar, Against: "raw", Want: 0.9},
	{Name: "recovery of N records ≤ 1.2 × raw replay (time; ratio ≥ 1/1.2)", Workload: wRecovery, Against: "raw", Want: 1 / 1.2},
}

func targets(rs []Ratio) []Target {
	var out []Target
	for _, t := range targetSpecs {
		for _, r := range rs {
			if r.Workload == t.Workload && r.Kind == t.Against {
				t.Got, t.Measured, t.Met = r.X, true, r.X >= t.Want
				t.Lo, t.Hi = r.Lo, r.Hi
			}
		}
		out = append(out, t)
	}
	return out
}

// human formats a figure with three significant digits.
func human(v float64, u string) string {
	if u == "s" {
		switch {
		case v < 1e-3:
			return fmt.Sprintf("%.0f µs", v*1e6)
		case v < 1:
			return fmt.Sprintf("%.0f ms", v*1e3)
		}
		return fmt.Sprintf("%.2f s", v)
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	}
	return fmt.Sprintf("%.0f/s", v)
}

func (c *Cell) String() string {
	if len(c.Runs) == 1 {
		return human(c.Median, c.Unit)
	}
	return fmt.Sprintf("%s (%s–%s)", human(c.Median, c.Unit), strings.TrimSuffix(human(c.Min, c.Unit), "/s"), human(c.Max, c.Unit))
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	r.writeTable(&b)
	r.writeRatios(&b)
	r.writeTargets(&b)
	r.writeLegend(&b)
	r.writeMachine(&b)
	return b.String()
}

func (r *Report) present() (es []string, ws []string) {
	seenE, seenW := map[string]bool{}, map[string]bool{}
	for _, c := range r.Cells {
		seenE[c.Engine], seenW[c.Workload] = true, true
	}
	for _, e := range engines {
		if seenE[e.Name] {
			es = append(es, e.Name)
		}
	}
	for _, w := range workloads {
		if seenW[w] {
			ws = append(ws, w)
		}
	}
	return es, ws
}

func (r *Report) writeTable(b *strings.Builder) {
	es, ws := r.present()
	fmt.Fprintf(b, "Median of %d runs (min–max). Throughput in puts or gets per second (higher is better); recovery and checkpoint in seconds (lower is better).\n\n", r.Config["runs"])
	fmt.Fprintf(b, "| engine | %s |\n|---|%s\n", strings.Join(ws, " | "), strings.Repeat("---|", len(ws)))
	for _, e := range es {
		fmt.Fprintf(b, "| %s |", e)
		for _, w := range ws {
			if c := find(r.Cells, e, w); c != nil {
				fmt.Fprintf(b, " %s |", c)
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	var open, load []string
	for _, e := range es {
		if c := find(r.Cells, e, wRecovery); c != nil && c.Extra != nil {
			open = append(open, fmt.Sprintf("%s %s", e, human(c.Extra["open_s"], "s")))
			load = append(load, fmt.Sprintf("%s %s", e, human(c.Extra["load_ops_per_s"], "ops/s")))
		}
	}
	if len(open) > 0 {
		fmt.Fprintf(b, "\nRecovery is open + read every key; the open alone took (median): %s.\n", strings.Join(open, ", "))
		fmt.Fprintf(b, "Loading the %d keys beforehand, one buffered put each (not in the table): %s.\n", r.Config["n"], strings.Join(load, ", "))
	}
}

func (r *Report) writeRatios(b *strings.Builder) {
	if len(r.Ratios) == 0 {
		return
	}
	b.WriteString("\n### in-mem relative to the others, same run\n\n×N = in-mem is N times as fast (throughput ratio, or inverse time ratio), from the medians; in brackets the lowest and highest ratio of figures taken in the same run.\n\n")
	b.WriteString("| workload | best peer | × best peer | × raw | × raw-gc | × raw-ow | × pebble | × sqlite |\n|---|---|---|---|---|---|---|---|\n")
	for _, w := range workloads {
		row := map[string]string{}
		for _, x := range r.Ratios {
			if x.Workload != w {
				continue
			}
			if x.Kind == "best peer" {
				row["peer"] = x.Against
			}
			row[x.Kind] = x.String()
		}
		if len(row) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", w, dash(row["peer"]), dash(row["best peer"]),
			dash(row["raw"]), dash(row["raw-gc"]), dash(row["raw-ow"]), dash(row["pebble"]), dash(row["sqlite"]))
	}
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (r *Report) writeTargets(b *strings.Builder) {
	b.WriteString("\n### Targets\n\nJudged on the ratio of medians; in brackets the per-run range. \"within noise\" means some run fell on the other side.\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range r.Targets {
		switch {
		case !t.Measured:
			fmt.Fprintf(b, "| %s | not measured | — |\n", t.Name)
		case t.Met:
			fmt.Fprintf(b, "| %s | %s | met%s |\n", t.Name, t.ratio(), t.note())
		default:
			fmt.Fprintf(b, "| %s | %s | **missed**%s |\n", t.Name, t.ratio(), t.note())
		}
	}
}

func (r *Report) writeLegend(b *strings.Builder) {
	b.WriteString("\n### What each engine ran as\n\n| engine | durable-1, durable-16, reopen for recovery/reads | buffered and the 1M-key load | checkpoint |\n|---|---|---|---|\n")
	for _, m := range r.Modes {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", m.Engine, m.Durable, dash(m.Buffered), dash(m.Checkpoint))
	}
}

func (r *Report) writeMachine(b *strings.Builder) {
	b.WriteString("\n### Machine and run\n\n")
	keys := make([]string, 0, len(r.Machine))
	for k := range r.Machine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "- %s: %s\n", k, r.Machine[k])
	}
	fmt.Fprintf(b, "- sizes: %d keys loaded, %d random gets, durable-1 %d puts, durable-16 %d×%d puts, buffered %d puts, %d runs\n",
		r.Config["n"], r.Config["reads"], r.Config["d1"], concurrentWriters, r.Config["d16"], r.Config["bn"], r.Config["runs"])
	fmt.Fprintf(b, "- load average at start / end: %s / %s; wall time %.0f s\n", r.StartLoad, r.EndLoad, r.Seconds)
	fmt.Fprintf(b, "- command: `%s`\n", r.Command)
}

func (t Target) ratio() string {
	return Ratio{X: t.Got, Lo: t.Lo, Hi: t.Hi}.String()
}

// note flags a verdict that some run contradicts.
func (t Target) note() string {
	if t.Lo == t.Hi {
		return ""
	}
	if (t.Met && t.Lo < t.Want) || (!t.Met && t.Hi >= t.Want) {
		return " (within noise)"
	}
	return ""
}
