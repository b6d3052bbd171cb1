package crashtest

import (
	"slices"
	"sort"
)

// Class is the kind of a finding: what went wrong in one crash (or crash
// state), so that a lost acknowledgement, a store that no longer opens and
// a crash in the middle of a store's creation are counted apart.
type Class string

// The classes of findings, worst first. Every class but ClassCreation is
// a violation; ClassCreation is one only for a target that declares
// Caps.CreationSafe.
const (
	// ClassUnopenable: the store did not open after a crash, though it had
	// acknowledged writes (or had opened before).
	ClassUnopenable Class = "unopenable"
	// ClassAckedLoss: an acknowledged write the promise covers is missing,
	// or an older value is back in its place.
	ClassAckedLoss Class = "acked-loss"
	// ClassPhantom: data nobody wrote (a value no write wrote, a key never
	// written), a deleted key back, or a write lost in an earlier crash
	// back again.
	ClassPhantom Class = "phantom"
	// ClassTornBatch: part of a batch the configuration promised atomic.
	ClassTornBatch Class = "torn-batch"
	// ClassHang: recovery did not finish within the checker's time limit.
	ClassHang Class = "hang"
	// ClassBroken: the recovered store misbehaves otherwise: a read error,
	// a write or a close that fails after recovery, a malformed reply.
	ClassBroken Class = "broken"
	// ClassCreation: the store did not open after a crash during its first
	// creation, before anything was acknowledged. Nothing acknowledged was
	// lost: a finding of its own, not a violation, unless the target
	// declares Caps.CreationSafe.
	ClassCreation Class = "creation"
)

// Classes lists every class, worst first.
func Classes() []Class {
	return []Class{ClassUnopenable, ClassAckedLoss, ClassPhantom, ClassTornBatch, ClassHang, ClassBroken, ClassCreation}
}

// rank orders classes worst first; an unknown class comes last.
func (c Class) rank() int {
	i := slices.Index(Classes(), c)
	if i < 0 {
		return len(Classes())
	}
	return i
}

// Worst returns the worst of classes ("" for none).
func Worst(classes []Class) Class {
	if len(classes) == 0 {
		return ""
	}
	return slices.MinFunc(classes, func(a, b Class) int { return a.rank() - b.rank() })
}

// ClassCounts counts crashes (or crash states) per class: one with two
// lost keys and a phantom counts once as acked-loss and once as phantom.
type ClassCounts map[Class]int

// Add counts one crash with the given classes, each once.
func (c ClassCounts) Add(classes []Class) {
	seen := map[Class]bool{}
	for _, k := range classes {
		if !seen[k] {
			c[k]++
			seen[k] = true
		}
	}
}

// Merge adds other's counts.
func (c ClassCounts) Merge(other ClassCounts) {
	for k, n := range other {
		c[k] += n
	}
}

// Sorted returns the classes counted, worst first.
func (c ClassCounts) Sorted() []Class {
	var out []Class
	for k, n := range c {
		if n > 0 {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rank() < out[j].rank() })
	return out
}

// Coverage says what the crashes of a run touched, so that a user sees what
// was not explored: the lifecycle phases they came in, the sync points
// (flush barriers, sync calls) they fell between, and the store's files.
type Coverage struct {
	// Phases counts crashes per lifecycle phase: create (before the first
	// open returned), write, reopen (between a clean close and the open
	// after it), recover (the first open after a crash), close.
	Phases map[string]int `json:"phases,omitempty"`
	// SyncPoints is how many sync points (flush barriers for the barrier
	// explorer, completed syncs otherwise) the workloads passed.
	SyncPoints int `json:"sync_points"`
	// Files are the store's files at the end of a workload, largest first,
	// with the crash states whose last writes touched them.
	Files []FileCoverage `json:"files,omitempty"`
	// ValueSizes is the smallest and largest value written.
	ValueSizes [2]int `json:"value_sizes"`
}

// FileCoverage is one file of a store: its size and how many crash states
// fell in the middle of writes to it (after a write to it, before the next
// flush barrier).
type FileCoverage struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	States int    `json:"states"`
}

// Merge adds other into c.
func (c *Coverage) Merge(other *Coverage) {
	if other == nil {
		return
	}
	if c.Phases == nil {
		c.Phases = map[string]int{}
	}
	for k, n := range other.Phases {
		c.Phases[k] += n
	}
	c.SyncPoints += other.SyncPoints
	for _, f := range other.Files {
		i := slices.IndexFunc(c.Files, func(g FileCoverage) bool { return g.Name == f.Name })
		if i < 0 {
			c.Files = append(c.Files, f)
			continue
		}
		c.Files[i].Size = max(c.Files[i].Size, f.Size)
		c.Files[i].States += f.States
	}
	if c.ValueSizes[1] == 0 || (other.ValueSizes[0] > 0 && other.ValueSizes[0] < c.ValueSizes[0]) {
		c.ValueSizes[0] = other.ValueSizes[0]
	}
	c.ValueSizes[1] = max(c.ValueSizes[1], other.ValueSizes[1])
}
