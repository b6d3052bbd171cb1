package vfs

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// SectorSize is the unit a simulated disk writes atomically: a kept write may
// be torn at these boundaries (offsets within the file), never inside one.
const SectorSize = 512

// PageSize is the unit of the pages policy: each page of an unsynced write
// reaches the disk or not on its own, as a page cache writes back pages.
const PageSize = 4096

// CrashMode says which unsynced changes survive a simulated power loss.
//
// A directory's unsynced changes (creates, renames, removes) survive in
// the order they were made under every mode: drop keeps none, keep all,
// and the seeded modes a seeded prefix of them. A filesystem journals a
// directory's changes in order (ext4, XFS and btrfs all do), so a later
// remove never reaches the disk without an earlier create in the same
// directory; a model that allowed it would report failures no disk can
// produce.
type CrashMode uint8

const (
	// DropUnsynced keeps only what was synced: the strict case.
	DropUnsynced CrashMode = iota
	// KeepUnsynced keeps everything, as after a process crash, where the
	// kernel still holds every write.
	KeepUnsynced
	// RandomUnsynced keeps a seeded random subset of the unsynced writes;
	// a kept write may be torn at sector boundaries or kept whole with
	// other bytes in its last sector, and a dropped write that would have
	// extended a file may leave zeros there.
	RandomUnsynced
	// RandomPages keeps a seeded random subset of the PageSize pages of
	// the unsynced writes (each page of each write on its own), a kept
	// page possibly torn at sector boundaries; truncates are kept or
	// dropped at random.
	RandomPages
	// ReorderUnsynced keeps later unsynced writes while earlier ones are
	// lost: of each file's unsynced writes and truncates, a seeded
	// non-empty suffix is kept whole and everything before it dropped (a
	// lone change is kept or dropped at random).
	ReorderUnsynced
	numCrashModes
)

var crashModeNames = [numCrashModes]string{"drop", "keep", "random", "pages", "reorder"}

func (m CrashMode) String() string {
	if m < numCrashModes {
		return crashModeNames[m]
	}
	return fmt.Sprintf("CrashMode(%d)", uint8(m))
}

// Seeded reports whether the mode's choices depend on CrashPolicy.Seed.
func (m CrashMode) Seeded() bool {
	return m == RandomUnsynced || m == RandomPages || m == ReorderUnsynced
}

// ParseCrashMode parses the names String returns.
func ParseCrashMode(s string) (CrashMode, error) {
	for m := range numCrashModes {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w %q (want drop, keep, random, pages or reorder)", ErrBadCrashPolicy, s)
}

// ParseCrashModes parses a comma-separated list of the names String
// returns ("drop,pages,reorder").
func ParseCrashModes(list string) ([]CrashMode, error) {
	var modes []CrashMode
	for _, name := range strings.Split(list, ",") {
		m, err := ParseCrashMode(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		modes = append(modes, m)
	}
	return modes, nil
}

// ErrBadCrashPolicy is returned by ParseCrashMode and ParseCrashPolicy for a
// policy they cannot read.
var ErrBadCrashPolicy = errors.New("inmem/vfs: unknown crash policy")

// CrashPolicy chooses the crash state Crash builds. Seed matters only for
// the seeded modes; the same FS history, mode and seed give the same state.
type CrashPolicy struct {
	Mode CrashMode
	Seed uint64
}

func (p CrashPolicy) String() string {
	if p.Mode.Seeded() {
		return fmt.Sprintf("%s(seed=%d)", p.Mode, p.Seed)
	}
	return p.Mode.String()
}

// Spec spells the policy as ParseCrashPolicy reads it: drop, keep, or
// MODE:SEED for a seeded mode (random:7).
func (p CrashPolicy) Spec() string {
	if p.Mode.Seeded() {
		return fmt.Sprintf("%s:%d", p.Mode, p.Seed)
	}
	return p.Mode.String()
}

// ParseCrashPolicy reads a policy as Spec spells it. A seeded mode needs
// its seed; the others take none.
func ParseCrashPolicy(s string) (CrashPolicy, error) {
	mode, seed, hasSeed := strings.Cut(s, ":")
	m, err := ParseCrashMode(mode)
	if err != nil {
		return CrashPolicy{}, err
	}
	p := CrashPolicy{Mode: m}
	switch {
	case hasSeed && !m.Seeded():
		return p, fmt.Errorf("%w %q: only random, pages and reorder take a seed", ErrBadCrashPolicy, s)
	case !hasSeed && m.Seeded():
		return p, fmt.Errorf("%w %q: %s needs its seed (%s:SEED)", ErrBadCrashPolicy, s, m, m)
	case hasSeed:
		if p.Seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
			return p, fmt.Errorf("%w %q: the seed is not a number", ErrBadCrashPolicy, s)
		}
	}
	return p, nil
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
	fs, fates := m.crash(p, true)
	lines := make([]string, len(fates))
	for i, f := range fates {
		lines[i] = f.String()
	}
	return fs, lines
}

// CrashFates is Crash that also returns the fate of every unsynced write,
// truncate and directory change, in the order of the tree (directories by
// name) and, within a file or directory, of the changes.
func (m *MemFS) CrashFates(p CrashPolicy) (*MemFS, []Fate) { return m.crash(p, true) }

// Unsynced lists every change not yet durable, as CrashFates would see
// them (Outcome "unsynced"), without building a crash state.
func (m *MemFS) Unsynced() []Fate {
	_, fates := m.crash(CrashPolicy{Mode: unsyncedOnly}, true)
	return fates
}

// unsyncedOnly is the mode of Unsynced: every change kept, and reported.
const unsyncedOnly = numCrashModes

func (m *MemFS) crash(p CrashPolicy, report bool) (*MemFS, []Fate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &crasher{policy: p, done: map[*memNode]*memNode{}, report: report}
	if p.Mode.Seeded() {
		c.rng = rand.New(rand.NewPCG(p.Seed, 0x696e2d6d656d))
	}
	root := c.dir(m.root, "/")
	if report {
		c.lost(m.root, "/", map[*memNode]bool{})
	}
	return &MemFS{root: root, locks: map[string]int{}}, c.fates
}

// lost reports the unsynced writes and truncates of the files below d
// (as it is now) that the crash left without a name: lost with it.
func (c *crasher) lost(d *memNode, path string, seen map[*memNode]bool) {
	for _, name := range slices.Sorted(maps.Keys(d.children)) {
		n := d.children[name]
		if seen[n] {
			continue
		}
		seen[n] = true
		c.path = strings.TrimSuffix(path, "/") + "/" + name
		if n.isDir {
			c.lost(n, c.path, seen)
			continue
		}
		if _, ok := c.done[n]; ok {
			continue
		}
		for _, op := range n.pending {
			f := Fate{Op: "write", Off: op.off, Len: int64(len(op.data)), Outcome: "dropped", Detail: "its file's name was lost"}
			if op.truncate {
				f = Fate{Op: "truncate", Off: op.off, Outcome: "dropped", Detail: "its file's name was lost"}
			}
			c.fate(f)
		}
	}
}

// Fate is what a crash did with one unsynced change.
type Fate struct {
	// Path is the file written or truncated, or the directory whose entry
	// changed.
	Path string `json:"path"`
	// Op is write, truncate, create (a new name, of a file, directory or
	// link), remove or rename.
	Op string `json:"op"`
	// Off and Len are a write's range; a truncate's new size is Off.
	Off int64 `json:"off,omitempty"`
	Len int64 `json:"len,omitempty"`
	// Entry is the name a directory change made or removed ("old -> new"
	// for a rename within the directory).
	Entry string `json:"entry,omitempty"`
	// Outcome is kept, dropped, torn (some sectors or pages kept), garbled
	// (kept with other bytes in its last sector), or unsynced (Unsynced: no
	// crash yet).
	Outcome string `json:"outcome"`
	// Detail says more: which sectors or pages a torn write kept, zeros
	// left where a dropped write extended the file.
	Detail string `json:"detail,omitempty"`
}

func (f Fate) String() string {
	what := f.Op + " " + f.Entry
	switch f.Op {
	case "write":
		what = fmt.Sprintf("write of %d bytes at %d", f.Len, f.Off)
	case "truncate":
		what = fmt.Sprintf("truncate to %d", f.Off)
	}
	s := fmt.Sprintf("%s: %s: %s", f.Path, what, f.Outcome)
	if f.Detail != "" {
		s += ", " + f.Detail
	}
	return s
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
	c := &memNode{isDir: n.isDir, ino: lastIno.Add(1), perm: n.perm, nlink: n.nlink, data: slices.Clone(n.data),
		synced: slices.Clone(n.synced), modTime: n.modTime}
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
	fates  []Fate
	path   string // of the node being rebuilt, for fates
}

func (c *crasher) fate(f Fate) {
	if c.report {
		f.Path = c.path
		if c.policy.Mode == unsyncedOnly {
			f.Outcome, f.Detail = "unsynced", ""
		}
		c.fates = append(c.fates, f)
	}
}

func keptOrDropped(kept bool) string {
	if kept {
		return "kept"
	}
	return "dropped"
}

func (op dirOp) String() string {
	op0, entry := op.fate()
	return op0 + " " + entry
}

// fate returns the operation's name and the entry it changes.
func (op dirOp) fate() (string, string) {
	switch {
	case op.node != nil && op.removeName != "":
		return "rename", op.removeName + " -> " + op.name
	case op.node != nil:
		return "create", op.name
	}
	return "remove", op.removeName
}

// keeps decides, for n unsynced changes of one file or directory in
// order, which the policy keeps whole.
func (c *crasher) keeps(n int) []bool {
	kept := make([]bool, n)
	switch c.policy.Mode {
	case KeepUnsynced, unsyncedOnly:
		for i := range kept {
			kept[i] = true
		}
	case RandomUnsynced, RandomPages:
		for i := range kept {
			kept[i] = c.rng.IntN(2) == 0
		}
	case ReorderUnsynced:
		from := c.rng.IntN(2) // a lone change: kept or not
		if n >= 2 {
			from = 1 + c.rng.IntN(n-1) // at least the first dropped, the last kept
		}
		for i := from; i < n; i++ {
			kept[i] = true
		}
	}
	return kept
}

// keepsInOrder decides, for n unsynced changes of one directory in order,
// which survive: a prefix of them (see CrashMode).
func (c *crasher) keepsInOrder(n int) []bool {
	kept := make([]bool, n)
	upTo := n
	switch c.policy.Mode {
	case DropUnsynced:
		upTo = 0
	case RandomUnsynced, RandomPages, ReorderUnsynced:
		upTo = c.rng.IntN(n + 1)
	}
	for i := range upTo {
		kept[i] = true
	}
	return kept
}

func (c *crasher) dir(d *memNode, path string) *memNode {
	if n, ok := c.done[d]; ok {
		return n
	}
	out := newDirNode()
	out.perm, out.modTime = d.perm, d.modTime
	c.done[d] = out
	entries := maps.Clone(d.durable)
	for i, kept := range c.keepsInOrder(len(d.dirOps)) {
		op := d.dirOps[i]
		if kept {
			d.applyDirOp(op, entries)
		}
		c.path = path
		name, entry := op.fate()
		c.fate(Fate{Op: name, Entry: entry, Outcome: keptOrDropped(kept)})
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		child := entries[name]
		childPath := strings.TrimSuffix(path, "/") + "/" + name
		if child.isDir {
			out.children[name] = c.dir(child, childPath)
		} else {
			c.path = childPath
			f := c.file(child)
			f.nlink++
			out.children[name] = f
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
	switch c.policy.Mode {
	case RandomUnsynced:
		for _, op := range f.pending {
			data = c.randomFileOp(data, op)
		}
	case RandomPages:
		for _, op := range f.pending {
			data = c.pagesFileOp(data, op)
		}
	default:
		for i, kept := range c.keeps(len(f.pending)) {
			data = c.wholeFileOp(data, f.pending[i], kept)
		}
	}
	out := &memNode{ino: lastIno.Add(1), perm: f.perm, data: data, synced: slices.Clone(data), modTime: f.modTime}
	c.done[f] = out
	return out
}

// wholeFileOp applies one unsynced write or truncate, whole, if kept.
func (c *crasher) wholeFileOp(data []byte, op fileOp, kept bool) []byte {
	if op.truncate {
		c.fate(Fate{Op: "truncate", Off: op.off, Outcome: keptOrDropped(kept)})
		if kept {
			return resize(data, op.off)
		}
		return data
	}
	c.fate(Fate{Op: "write", Off: op.off, Len: int64(len(op.data)), Outcome: keptOrDropped(kept)})
	if kept {
		return writeAt(data, op.off, op.data)
	}
	return data
}

// randomFileOp applies the part of one unsynced write or truncate that the
// random policy keeps.
func (c *crasher) randomFileOp(data []byte, op fileOp) []byte {
	if op.truncate {
		return c.wholeFileOp(data, op, c.rng.IntN(2) == 0)
	}
	what := Fate{Op: "write", Off: op.off, Len: int64(len(op.data))}
	switch c.rng.IntN(5) {
	case 0: // dropped; the size update alone may have reached the disk
		what.Outcome = "dropped"
		if c.rng.IntN(2) == 0 {
			what.Detail = "zeros left where it extended the file"
			data = resize(data, max(int64(len(data)), op.off+int64(len(op.data))))
		}
		c.fate(what)
		return data
	case 1:
		what.Outcome = "dropped"
		c.fate(what)
		return data
	case 2:
		what.Outcome = "kept"
		c.fate(what)
		return writeAt(data, op.off, op.data)
	case 3:
		return c.garbledWrite(data, op, what)
	}
	return c.tornWrite(data, op, what)
}

// garbledWrite keeps the whole write, but its last sector holds other
// bytes: the disk wrote the sector with stale or wrong content. A record
// ending there is full length with a wrong checksum.
func (c *crasher) garbledWrite(data []byte, op fileOp, what Fate) []byte {
	end := op.off + int64(len(op.data))
	start := max(op.off, (end-1)/SectorSize*SectorSize)
	garbage := make([]byte, end-start)
	for i := range garbage {
		garbage[i] = byte(c.rng.UintN(256))
	}
	what.Outcome, what.Detail = "garbled", fmt.Sprintf("kept whole, with other bytes in the sector at %d", start)
	c.fate(what)
	data = writeAt(data, op.off, op.data)
	return writeAt(data, start, garbage)
}

// tornWrite keeps a random subset of the sectors the write touches. Dropped
// sectors before a kept one become a hole of zeros when they extend the file.
func (c *crasher) tornWrite(data []byte, op fileOp, what Fate) []byte {
	data, kept := c.keepSectors(data, op.off, op.data)
	what.Outcome, what.Detail = "torn", fmt.Sprintf("kept the sectors at %v", kept)
	c.fate(what)
	return data
}

// keepSectors writes a random subset of the sectors of p (at off) into
// data and returns the offsets of those kept.
func (c *crasher) keepSectors(data []byte, off int64, p []byte) ([]byte, []int64) {
	end := off + int64(len(p))
	kept := []int64{}
	for start := off; start < end; {
		next := min((start/SectorSize+1)*SectorSize, end)
		if c.rng.IntN(2) == 0 {
			data = writeAt(data, start, p[start-off:next-off])
			kept = append(kept, start)
		}
		start = next
	}
	return data, kept
}

// pagesFileOp applies the pages of one unsynced write the pages policy
// keeps: each page is dropped, kept, or (one time in four) torn at
// sector boundaries. A truncate is kept or dropped whole.
func (c *crasher) pagesFileOp(data []byte, op fileOp) []byte {
	if op.truncate {
		return c.wholeFileOp(data, op, c.rng.IntN(2) == 0)
	}
	end := op.off + int64(len(op.data))
	var kept, torn []string
	pages := 0
	for start := op.off; start < end; pages++ {
		next := min((start/PageSize+1)*PageSize, end)
		page := op.data[start-op.off : next-op.off]
		switch r := c.rng.IntN(8); {
		case r < 4: // dropped
		case r < 6:
			var sectors []int64
			data, sectors = c.keepSectors(data, start, page)
			torn = append(torn, fmt.Sprintf("%d (sectors %v)", start, sectors))
		default:
			data = writeAt(data, start, page)
			kept = append(kept, strconv.FormatInt(start, 10))
		}
		start = next
	}
	c.fate(pagesFate(op, pages, kept, torn))
	return data
}

func pagesFate(op fileOp, pages int, kept, torn []string) Fate {
	f := Fate{Op: "write", Off: op.off, Len: int64(len(op.data))}
	switch {
	case len(kept) == 0 && len(torn) == 0:
		f.Outcome = "dropped"
	case len(kept) == pages:
		f.Outcome = "kept"
	default:
		f.Outcome = "torn"
		f.Detail = fmt.Sprintf("pages kept whole at [%s], torn at [%s]", strings.Join(kept, " "), strings.Join(torn, ", "))
	}
	return f
}
