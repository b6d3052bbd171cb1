package crashtest

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/in-mem/inmem"
)

// WorkloadConfig describes a seeded random workload.
type WorkloadConfig struct {
	Seed      uint64
	Ops       int // operations to issue
	Runs      int // number of runs written to (default 3)
	Keys      int // keys (and cells) per run (default 12)
	ValueSize int // bytes per value (default 64)
	// Lifecycle adds a clean close and reopen to every cycle of 64
	// operations, and makes RandomScenario end with a clean Close: the
	// runner must be able to reopen (ScenarioRunner.SetOpen).
	Lifecycle bool
}

func (c WorkloadConfig) withDefaults() WorkloadConfig {
	if c.Runs <= 0 {
		c.Runs = 3
	}
	if c.Keys <= 0 {
		c.Keys = 12
	}
	if c.ValueSize <= 0 {
		c.ValueSize = 64
	}
	return c
}

// Generator draws the operations of a seeded random workload over every
// primitive: puts, deletes (some of missing keys), event appends, state sets,
// CAS (mostly current, some stale), multi-write transactions, and now and
// then a flush, checkpoint or compaction. Every value is unique to its
// operation. The same seed gives the same sequence of choices.
type Generator struct {
	cfg    WorkloadConfig
	rng    *rand.Rand
	n      int
	tag    string
	values string
}

// NewGenerator returns a generator for cfg. Generators with different
// streams (writers) draw different operations; tag prefixes their keys and
// cells (empty: writers share keys). Values name the seed and stream, so no
// two generators ever write the same bytes.
func NewGenerator(cfg WorkloadConfig, stream uint64, tag string) *Generator {
	cfg = cfg.withDefaults()
	return &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, stream)), tag: tag,
		values: fmt.Sprintf("s%d.%d", cfg.Seed, stream)}
}

// Count returns how many operations Next has drawn.
func (g *Generator) Count() int { return g.n }

// Step is one generated operation: writes for a transaction, or a
// maintenance operation.
type Step struct {
	Kind   OpKind
	Writes []Write
	Mode   inmem.CompactMode
}

func (g *Generator) run() string { return fmt.Sprintf("run-%d", g.rng.IntN(g.cfg.Runs)) }
func (g *Generator) key() string { return fmt.Sprintf("key-%02d", g.rng.IntN(g.cfg.Keys)) }
func (g *Generator) cell() string {
	return fmt.Sprintf("cell-%d", g.rng.IntN(max(g.cfg.Keys/3, 1)))
}

func (g *Generator) value(run, key string) []byte {
	return UniqueValue(run, key+"/"+g.values, g.n, g.cfg.ValueSize)
}

func (g *Generator) write() Write {
	run := g.run()
	switch x := g.rng.IntN(100); {
	case x < 40:
		k := g.key()
		return Put(run, g.tag+k, g.value(run, g.tag+k))
	case x < 52:
		return Delete(run, g.tag+g.key())
	case x < 72:
		return Append(run, g.value(run, g.tag+"event"))
	case x < 84:
		c := g.tag + g.cell()
		return Set(run, c, g.value(run, c))
	case x < 95:
		c := g.tag + g.cell()
		return CASCurrent(run, c, g.value(run, c))
	case x < 97:
		return Retain(run, g.rng.IntN(4)) // KeepLast 1 to 3, or KeepAll
	default:
		c := g.tag + g.cell()
		return CAS(run, c, inmem.Version(1+g.rng.IntN(3)), g.value(run, c))
	}
}

// Next returns the next operation. Every 64 steps the cycle holds a flush,
// a checkpoint, a WAL-only and a full compaction (and, with Lifecycle, a
// reopen), so that even short workloads reach them.
func (g *Generator) Next() Step {
	g.n++
	if g.cfg.Lifecycle && g.n%64 == 52 {
		return Step{Kind: OpReopen}
	}
	switch g.n % 64 {
	case 20:
		return Step{Kind: OpFlush}
	case 30:
		return Step{Kind: OpCheckpoint}
	case 45:
		return Step{Kind: OpCompact, Mode: inmem.CompactWALOnly}
	case 60:
		return Step{Kind: OpCompact, Mode: inmem.CompactFull}
	}
	if g.rng.IntN(100) < 12 {
		ws := make([]Write, 2+g.rng.IntN(3))
		for i := range ws {
			ws[i] = g.write()
		}
		return Step{Kind: OpWrite, Writes: ws}
	}
	return Step{Kind: OpWrite, Writes: []Write{g.write()}}
}

// Run issues s through the runner.
func (s Step) Run(r *ScenarioRunner) error {
	switch s.Kind {
	case OpFlush:
		return r.Flush()
	case OpCheckpoint:
		return r.Checkpoint()
	case OpCompact:
		return r.Compact(s.Mode)
	case OpReopen:
		return r.Reopen()
	case OpClose:
		return r.Close()
	}
	return r.Update(s.Writes...)
}

// RandomScenario returns a scenario issuing cfg.Ops generated operations.
// Expected failures (a CAS on a stale version, a delete of a missing key) do
// not stop it; the runner checks them against the model.
func RandomScenario(cfg WorkloadConfig) func(*ScenarioRunner) error {
	return func(r *ScenarioRunner) error {
		g := NewGenerator(cfg, 0, "")
		for i := 0; i < g.cfg.Ops; i++ {
			if err := g.Next().Run(r); err != nil && !ExpectedFailure(err) {
				return err
			}
		}
		if cfg.Lifecycle {
			return r.Close()
		}
		return nil
	}
}

// ExpectedFailure reports whether err is a failure the model predicts (a
// CAS on a stale version, a delete of a missing key, a CreateRun of an
// existing run): such an operation wrote nothing, and a workload goes on
// after it.
func ExpectedFailure(err error) bool {
	return errors.Is(err, inmem.ErrVersionMismatch) || errors.Is(err, inmem.ErrNotFound) || errors.Is(err, inmem.ErrRunExists)
}
