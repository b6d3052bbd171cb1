// Package state is in-mem's in-memory data: runs, each with versioned KV,
// an event log and state cells, plus the system namespace holding retention
// policies. Every entry carries the version (txn id) of the commit that wrote
// it, and every read takes the version to read at: entries above it are
// invisible. That lets the engine apply a commit before it is durable and
// publish it by moving one watermark, and lets a checkpoint read one point in
// time while writers continue.
//
// Store does not know about files; it validates and applies writesets and
// encodes itself for snapshots.
package state

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Latest reads every applied entry, durable or not: the view of the single
// committer validating a transaction.
const Latest = ^uint64(0)

// Entry is one version of a KV key, a state cell or a retention policy.
type Entry struct {
	Version uint64
	TS      int64 // commit time, µs since the Unix epoch
	Value   []byte
	Deleted bool // a KV tombstone
}

// Chain is the history of one key, oldest first.
type Chain struct {
	Entries []Entry
	// Trimmed is the oldest version retention kept, or 0 if retention never
	// removed anything from this chain.
	Trimmed uint64
}

// newChain returns an empty chain whose first entry needs no allocation of
// its own: most keys and cells only ever have one version, and a chain plus
// its entries made two allocations per key (a third of the cost of loading
// a snapshot). NB: the inline array is appended into once, while the chain
// is new; every later change of Entries copies (appendVersion, pruneBelow,
// trimChain), as Run.view requires.
func newChain() *Chain {
	c := &struct {
		Chain
		first [1]Entry
	}{}
	c.Entries = c.first[:0]
	return &c.Chain
}

// at returns the newest entry with version <= v.
func (c *Chain) at(v uint64) (Entry, bool) {
	for i := len(c.Entries) - 1; i >= 0; i-- {
		if c.Entries[i].Version <= v {
			return c.Entries[i], true
		}
	}
	return Entry{}, false
}

// Event is one entry of a run's event log.
type Event struct {
	Seq     uint64
	Version uint64
	TS      int64
	Payload []byte
}

// Run is one namespace.
type Run struct {
	ID      [16]byte
	Name    string
	Version uint64 // the commit that created it
	TS      int64

	mu     sync.RWMutex
	kv     kvTable
	events []Event
	cells  map[string]*Chain

	// sorted and added list every chain of kv: sorted by key those known
	// when the last snapshot was written or read, added those created
	// since, in creation order. A chain is never removed from kv nor
	// replaced, so a snapshot sorts only the keys added since the last one
	// (see keyOrder). sorted is replaced whole, added only appended to.
	sorted []kvRef
	added  keyList
}

// kvRef is a KV key and its chain.
type kvRef struct {
	key string
	c   *Chain
}

func newRun(id [16]byte, name string, version uint64, ts int64) *Run {
	return &Run{ID: id, Name: name, Version: version, TS: ts, cells: map[string]*Chain{}}
}

// Store is the whole in-memory state.
type Store struct {
	mu        sync.RWMutex
	runs      map[[16]byte]*Run
	byName    map[string]*Run
	retention map[[16]byte]*Chain
	last      atomic.Uint64 // highest version applied
	clock     atomic.Int64  // highest commit timestamp applied or loaded, µs

	// table holds the runs of runs again, for the hot read path to look
	// them up without a lock (see runTable).
	table atomic.Pointer[runTable]

	// floor is the lowest version any reader may still read at. State
	// cells drop history below it. See SetFloor.
	floor atomic.Uint64

	pack bool // see PackValues
	slab slab // where values are packed (see PackValues)
}

// New returns an empty Store.
func New() *Store {
	s := &Store{runs: map[[16]byte]*Run{}, byName: map[string]*Run{}, retention: map[[16]byte]*Chain{}}
	s.table.Store(newRunTable(0))
	return s
}

// addRun adds a new run. Called with s.mu held for writing (or before the
// store is shared).
func (s *Store) addRun(r *Run) {
	s.runs[r.ID], s.byName[r.Name] = r, r
	s.table.Store(s.table.Load().with(r))
}

// SetFloor says no reader will read below version v any more: state cells
// may forget values older than their newest version <= v. The engine keeps it
// at the published watermark, or lower while a checkpoint reads.
func (s *Store) SetFloor(v uint64) { s.floor.Store(v) }

// Run returns the run with id if it exists at version at.
func (s *Store) Run(id [16]byte, at uint64) (*Run, bool) {
	r := s.table.Load().get(id) // no lock: readers on every core would contend on it
	if r == nil || r.Version > at {
		return nil, false
	}
	return r, true
}

// RunByName returns the run named name if it exists at version at.
func (s *Store) RunByName(name string, at uint64) (*Run, bool) {
	s.mu.RLock()
	r := s.byName[name]
	s.mu.RUnlock()
	if r == nil || r.Version > at {
		return nil, false
	}
	return r, true
}

// Runs returns the runs that exist at version at, by name.
func (s *Store) Runs(at uint64) []*Run {
	s.mu.RLock()
	out := make([]*Run, 0, len(s.runs))
	for _, r := range s.runs {
		if r.Version <= at {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Run) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// KV returns the newest version of key at version at (which may be a
// tombstone), with the chain's trim mark.
func (r *Run) KV(key string, at uint64) (Entry, uint64, bool) {
	return r.KVNow(key, func() uint64 { return at })
}

// KVNow is KV at the version now returns, called with the run's lock held.
//
// NB: readers of the published state must read this way (the Now methods):
// commits prune state cells below the store's floor (see SetFloor) and
// compaction trims KV chains below the published version, both under the
// run's lock. A version a reader loaded before taking the lock may already
// be pruned away, and an existing cell or key would read as missing; a
// version loaded under the lock is at or above anything pruned before.
func (r *Run) KVNow(key string, now func() uint64) (Entry, uint64, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := r.kv.get(key)
	if c == nil {
		return Entry{}, 0, false
	}
	e, ok := c.at(now())
	return e, c.Trimmed, ok
}

// KVHistory returns every retained version of key up to version at, oldest
// first, and the chain's trim mark.
func (r *Run) KVHistory(key string, at uint64) ([]Entry, uint64) {
	return r.KVHistoryNow(key, func() uint64 { return at })
}

// KVHistoryNow is KVHistory at the version now returns; see KVNow.
func (r *Run) KVHistoryNow(key string, now func() uint64) ([]Entry, uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := r.kv.get(key)
	if c == nil {
		return nil, 0
	}
	at := now()
	var out []Entry
	for _, e := range c.Entries {
		if e.Version <= at {
			out = append(out, e)
		}
	}
	return out, c.Trimmed
}

// KVKeys returns the keys with prefix whose newest version at version at is
// not a tombstone, sorted.
func (r *Run) KVKeys(prefix string, at uint64) []string {
	return r.KVKeysNow(prefix, func() uint64 { return at })
}

// KVKeysNow is KVKeys at the version now returns; see KVNow.
func (r *Run) KVKeysNow(prefix string, now func() uint64) []string {
	r.mu.RLock()
	at := now()
	var keys []string
	for k, c := range r.kv.all() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if e, ok := c.at(at); ok && !e.Deleted {
			keys = append(keys, k)
		}
	}
	r.mu.RUnlock()
	slices.Sort(keys)
	return keys
}

// visibleEvents returns how many events exist at version at. Events are
// appended in version order, so the visible ones are a prefix.
func (r *Run) visibleEvents(at uint64) int {
	n := len(r.events)
	for n > 0 && r.events[n-1].Version > at {
		n--
	}
	return n
}

// EventCount returns the number of events at version at: the next sequence
// number.
func (r *Run) EventCount(at uint64) uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return uint64(r.visibleEvents(at))
}

// Events returns the events with from <= seq < to at version at.
func (r *Run) Events(from, to, at uint64) []Event {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := uint64(r.visibleEvents(at))
	to = min(to, n)
	if from >= to {
		return nil
	}
	return slices.Clone(r.events[from:to])
}

// Cell returns the value of a state cell at version at.
func (r *Run) Cell(name string, at uint64) (Entry, bool) {
	return r.CellNow(name, func() uint64 { return at })
}

// CellNow is Cell at the version now returns; see KVNow.
func (r *Run) CellNow(name string, now func() uint64) (Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := r.cells[name]
	if c == nil {
		return Entry{}, false
	}
	return c.at(now())
}

// CellNames returns the names of the cells that exist at version at, sorted.
func (r *Run) CellNames(at uint64) []string {
	return r.CellNamesNow(func() uint64 { return at })
}

// CellNamesNow is CellNames at the version now returns; see KVNow.
func (r *Run) CellNamesNow(now func() uint64) []string {
	r.mu.RLock()
	at := now()
	var names []string
	for n, c := range r.cells {
		if _, ok := c.at(at); ok {
			names = append(names, n)
		}
	}
	r.mu.RUnlock()
	slices.Sort(names)
	return names
}

// Retention returns the stored retention policy of run id at version at.
func (s *Store) Retention(id [16]byte, at uint64) (Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.retention[id]
	if c == nil {
		return Entry{}, false
	}
	return c.at(at)
}

// Counts returns the number of runs, KV chains, KV versions, events and
// cells at version at: a summary for inspection.
func (s *Store) Counts(at uint64) (runs, keys, versions, events, cells int) {
	for _, r := range s.Runs(at) {
		runs++
		r.mu.RLock()
		for _, c := range r.kv.all() {
			n := 0
			for _, e := range c.Entries {
				if e.Version <= at {
					n++
				}
			}
			if n > 0 {
				keys++
				versions += n
			}
		}
		events += r.visibleEvents(at)
		for _, c := range r.cells {
			if _, ok := c.at(at); ok {
				cells++
			}
		}
		r.mu.RUnlock()
	}
	return
}

// KVLatest returns the value and version of the newest version of key at
// the version visible holds (loaded under the run's lock, see KVNow), and
// false if there is none or it is a tombstone. The value is the stored
// slice itself: stored values are never changed, and the caller must not
// change it. NB: one map lookup and the chain's last entry (held in the
// chain's own allocation while it has one version), no closure and no
// Entry copy: the hot read path. The newest value is not kept in the map
// slot itself: that saved a pointer chase per read (a few percent of a
// get) but made every slot 40 bytes larger, and recovery, which grows the
// maps from empty, took 1.7 times as long.
func (r *Run) KVLatest(key string, visible *atomic.Uint64) ([]byte, uint64, bool) {
	r.mu.RLock()
	c := r.kv.get(key)
	if c == nil {
		r.mu.RUnlock()
		return nil, 0, false
	}
	at, es := visible.Load(), c.Entries
	for i := len(es) - 1; i >= 0; i-- {
		if e := &es[i]; e.Version <= at {
			v, ver, live := e.Value, e.Version, !e.Deleted
			r.mu.RUnlock()
			return v, ver, live
		}
	}
	r.mu.RUnlock()
	return nil, 0, false
}
