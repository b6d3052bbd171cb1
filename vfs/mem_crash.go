package vfs

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// SectorSize is the unit a simulated disk writes atomically: a kept write may
// be torn at these boundaries (offsets within the file), never inside one.
const SectorSize = 512

// CrashMode says which unsynced changes survive a simulated power loss.
type CrashMode uint8

const (
	// DropUnsynced keeps only what was synced: the strict case.
	DropUnsynced CrashMode = iota
	// KeepUnsynced keeps everything, as after a process crash, where the
	// kernel still holds every write.
	KeepUnsynced
	// RandomUnsynced keeps a seeded random subset of the unsynced writes and
	// directory changes; a kept write may be torn at sector boundaries or
	// kept whole with other bytes in its last sector, and a dropped write
	// that would have extended a file may leave zeros there.
	RandomUnsynced
)

func (m CrashMode) String() string {
	switch m {
	case DropUnsynced:
		return "drop"
	case KeepUnsynced:
		return "keep"
	case RandomUnsynced:
		return "random"
	}
	return fmt.Sprintf("CrashMode(%d)", uint8(m))
}

// ParseCrashMode parses the names String returns.
func ParseCrashMode(s string) (CrashMode, error) {
	for _, m := range []CrashMode{DropUnsynced, KeepUnsynced, RandomUnsynced} {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("inmem/vfs: unknown crash policy %q (want drop, keep or random)", s)
}

// CrashPolicy chooses the crash state Crash builds. Seed matters only for
// RandomUnsynced; the same FS history, mode and seed give the same state.
type CrashPolicy struct {
	Mode CrashMode
	Seed uint64
}

func (p CrashPolicy) String() string {
	if p.Mode == RandomUnsynced {
		return fmt.Sprintf("random(seed=%d)", p.Seed)
	}
	return p.Mode.String()
}

// Crash returns a new MemFS holding what a machine would find after losing
// power now: for each directory its synced entries plus the changes the
// policy keeps, for each file its synced content plus the writes the policy
// keeps. m itself is not changed, and every change in the result is durable.
// Locks are not carried over: the process that held them is gone.
func (m *MemFS) Crash(p CrashPolicy) *MemFS {
	fs, _ := m.crash(p, false)
	return fs
}

// CrashReport is Crash that also describes the fate of every unsynced
// write, truncate and directory change: kept, dropped or torn.
func (m *MemFS) CrashReport(p CrashPolicy) (*MemFS, []string) {
	return m.crash(p, true)
}

func (m *MemFS) crash(p CrashPolicy, report bool) (*MemFS, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &crasher{policy: p, done: map[*memNode]*memNode{}, report: report}
	if p.Mode == RandomUnsynced {
		c.rng = rand.New(rand.NewPCG(p.Seed, 0x696e2d6d656d))
	}
	return &MemFS{root: c.dir(m.root, "/"), locks: map[string]int{}}, c.fates
}

// Kill returns a new MemFS as a process crash leaves the machine: every
// write and directory change is there, and what was not synced is still not
// synced, so that a later Crash of the result can still lose it (a power
// loss after the recovery from a kill). m itself is not changed; locks are
// not carried over.
func (m *MemFS) Kill() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &MemFS{root: cloneNode(m.root, map[*memNode]*memNode{}), locks: map[string]int{}}
}

// cloneNode copies a node and everything it reaches, keeping shared nodes
// shared (a renamed file is one node in two directories' entries).
func cloneNode(n *memNode, done map[*memNode]*memNode) *memNode {
	if n == nil {
		return nil
	}
	if c, ok := done[n]; ok {
		return c
	}
	c := &memNode{isDir: n.isDir, data: slices.Clone(n.data), synced: slices.Clone(n.synced), modTime: n.modTime}
	done[n] = c
	for _, op := range n.pending {
		c.pending = append(c.pending, fileOp{off: op.off, data: slices.Clone(op.data), truncate: op.truncate})
	}
	if !n.isDir {
		return c
	}
	c.children, c.durable = map[string]*memNode{}, map[string]*memNode{}
	for name, child := range n.children {
		c.children[name] = cloneNode(child, done)
	}
	for name, child := range n.durable {
		c.durable[name] = cloneNode(child, done)
	}
	for _, op := range n.dirOps {
		c.dirOps = append(c.dirOps, dirOp{name: op.name, node: cloneNode(op.node, done), removeName: op.removeName})
	}
	return c
}

// UnsyncedOps reports how many writes, truncates and directory changes are
// not yet durable: zero means a crash now loses nothing.
func (m *MemFS) UnsyncedOps() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]bool{}
	var count func(n *memNode) int
	count = func(n *memNode) int {
		if seen[n] {
			return 0
		}
		seen[n] = true
		if !n.isDir {
			return len(n.pending)
		}
		total := len(n.dirOps)
		for _, name := range slices.Sorted(maps.Keys(n.children)) {
			total += count(n.children[name])
		}
		for _, name := range slices.Sorted(maps.Keys(n.durable)) {
			total += count(n.durable[name])
		}
		return total
	}
	return count(m.root)
}

type crasher struct {
	policy CrashPolicy
	rng    *rand.Rand
	done   map[*memNode]*memNode
	report bool
	fates  []string
	path   string // of the node being rebuilt, for fates
}

func (c *crasher) fate(format string, args ...any) {
	if c.report {
		c.fates = append(c.fates, c.path+": "+fmt.Sprintf(format, args...))
	}
}

func keptOrDropped(kept bool) string {
	if kept {
		return "kept"
	}
	return "dropped"
}

func (op dirOp) String() string {
	switch {
	case op.node != nil && op.removeName != "":
		return fmt.Sprintf("rename %s -> %s", op.removeName, op.name)
	case op.node != nil:
		return "create " + op.name
	}
	return "remove " + op.removeName
}

func (c *crasher) keep() bool {
	switch c.policy.Mode {
	case KeepUnsynced:
		return true
	case RandomUnsynced:
		return c.rng.IntN(2) == 0
	}
	return false
}

func (c *crasher) dir(d *memNode, path string) *memNode {
	if n, ok := c.done[d]; ok {
		return n
	}
	out := newDirNode()
	c.done[d] = out
	entries := maps.Clone(d.durable)
	for _, op := range d.dirOps {
		kept := c.keep()
		if kept {
			d.applyDirOp(op, entries)
		}
		c.path = path
		c.fate("%s: %s", op, keptOrDropped(kept))
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		child := entries[name]
		childPath := strings.TrimSuffix(path, "/") + "/" + name
		if child.isDir {
			out.children[name] = c.dir(child, childPath)
		} else {
			c.path = childPath
			out.children[name] = c.file(child)
		}
	}
	out.durable = maps.Clone(out.children)
	return out
}

func (c *crasher) file(f *memNode) *memNode {
	if n, ok := c.done[f]; ok {
		return n
	}
	data := slices.Clone(f.synced)
	for _, op := range f.pending {
		data = c.applyFileOp(data, op)
	}
	out := &memNode{data: data, synced: slices.Clone(data), modTime: f.modTime}
	c.done[f] = out
	return out
}

// applyFileOp applies the part of one unsynced write or truncate that the
// policy keeps.
func (c *crasher) applyFileOp(data []byte, op fileOp) []byte {
	switch c.policy.Mode {
	case DropUnsynced:
		return data
	case KeepUnsynced:
		if op.truncate {
			return resize(data, op.off)
		}
		return writeAt(data, op.off, op.data)
	}
	if c.policy.Mode != RandomUnsynced {
		return data
	}
	if op.truncate {
		kept := c.keep()
		c.fate("truncate to %d: %s", op.off, keptOrDropped(kept))
		if kept {
			return resize(data, op.off)
		}
		return data
	}
	what := ""
	if c.report {
		what = fmt.Sprintf("write of %d bytes at %d", len(op.data), op.off)
	}
	switch c.rng.IntN(5) {
	case 0: // dropped; the size update alone may have reached the disk
		if c.rng.IntN(2) == 0 {
			c.fate("%s: dropped, zeros left where it extended the file", what)
			data = resize(data, max(int64(len(data)), op.off+int64(len(op.data))))
		} else {
			c.fate("%s: dropped", what)
		}
		return data
	case 1:
		c.fate("%s: dropped", what)
		return data
	case 2:
		c.fate("%s: kept", what)
		return writeAt(data, op.off, op.data)
	case 3:
		return c.garbledWrite(data, op, what)
	}
	return c.tornWrite(data, op, what)
}

// garbledWrite keeps the whole write, but its last sector holds other
// bytes: the disk wrote the sector with stale or wrong content. A record
// ending there is full length with a wrong checksum.
func (c *crasher) garbledWrite(data []byte, op fileOp, what string) []byte {
	end := op.off + int64(len(op.data))
	start := max(op.off, (end-1)/SectorSize*SectorSize)
	garbage := make([]byte, end-start)
	for i := range garbage {
		garbage[i] = byte(c.rng.UintN(256))
	}
	c.fate("%s: kept whole, with other bytes in the sector at %d", what, start)
	data = writeAt(data, op.off, op.data)
	return writeAt(data, start, garbage)
}

// tornWrite keeps a random subset of the sectors the write touches. Dropped
// sectors before a kept one become a hole of zeros when they extend the file.
func (c *crasher) tornWrite(data []byte, op fileOp, what string) []byte {
	end := op.off + int64(len(op.data))
	var kept []int64
	for start := op.off; start < end; {
		next := min((start/SectorSize+1)*SectorSize, end)
		if c.rng.IntN(2) == 0 {
			data = writeAt(data, start, op.data[start-op.off:next-op.off])
			kept = append(kept, start)
		}
		start = next
	}
	c.fate("%s: torn, kept the sectors at %v", what, kept)
	return data
}
