package state

import (
	"errors"
	"fmt"
	"strings"

	"github.com/in-mem/inmem/internal/writeset"
)

// ErrInvalid is returned by Apply for a writeset that does not fit the
// state: a version that does not increase, an unknown run, an event number
// out of sequence. During replay that means the log is damaged.
var ErrInvalid = errors.New("inmem/state: writeset does not apply")

// Last returns the highest version applied.
func (s *Store) Last() uint64 { return s.last.Load() }

// Clock returns the highest commit timestamp the store holds or was told
// of: the engine's commit clock continues from there after a reopen.
func (s *Store) Clock() int64 { return s.clock.Load() }

// AdvanceClock raises the clock to ts if it is below.
func (s *Store) AdvanceClock(ts int64) {
	for {
		c := s.clock.Load()
		if c >= ts || s.clock.CompareAndSwap(c, ts) {
			return
		}
	}
}

// Apply validates ms against the latest state and, only if all of them fit,
// applies them as version txn committed at ts. It copies every key and
// value it keeps: ms and the bytes it points into may be reused once it
// returns. Callers serialize Apply.
//
// NB: only Apply adds runs, so Apply (and validate) look runs up in the
// lock-free table and take the store's lock only to add a run or a
// retention policy: a commit of puts takes no lock but its run's.
func (s *Store) Apply(txn uint64, ts int64, ms []writeset.Mutation) error {
	if err := s.validate(txn, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if m.Kind == writeset.CreateRun {
			s.mu.Lock()
			s.addRun(newRun(m.Run, strings.Clone(m.Key), txn, ts))
			s.mu.Unlock()
		}
	}
	s.last.Store(txn)
	s.AdvanceClock(ts)
	floor := s.floor.Load()
	for _, m := range ms {
		s.applyOne(txn, ts, m, floor)
	}
	return nil
}

// validate checks ms against the latest state.
func (s *Store) validate(txn uint64, ms []writeset.Mutation) error {
	if last := s.last.Load(); txn <= last {
		return fmt.Errorf("%w: version %d is not above %d", ErrInvalid, txn, last)
	}
	var created creates
	var appended map[[16]byte]uint64
	for i, m := range ms {
		if m.Kind == writeset.CreateRun {
			if err := s.validateCreate(i, m, &created); err != nil {
				return err
			}
			continue
		}
		r := s.table.Load().get(m.Run)
		if r == nil && !created.ids[m.Run] {
			return fmt.Errorf("%w: mutation %d (%s) names unknown run %x", ErrInvalid, i, m.Kind, m.Run)
		}
		if m.Kind != writeset.EventAppend {
			continue
		}
		if appended == nil {
			appended = map[[16]byte]uint64{}
		}
		next := appended[m.Run]
		if r != nil {
			r.mu.RLock()
			next += uint64(len(r.events))
			r.mu.RUnlock()
		}
		if m.Seq != next {
			return fmt.Errorf("%w: mutation %d appends event %d to run %x where %d is next", ErrInvalid, i, m.Seq, m.Run, next)
		}
		appended[m.Run]++
	}
	return nil
}

// creates lists the runs a writeset creates, by id and by name; made at
// the first create (most writesets have none).
type creates struct {
	ids   map[[16]byte]bool
	names map[string]bool
}

// validateCreate checks that mutation i, m, may create its run, and adds
// it to created. NB: two creates of one name in one writeset would leave two
// runs of that name, which no snapshot can hold.
func (s *Store) validateCreate(i int, m writeset.Mutation, created *creates) error {
	s.mu.RLock()
	taken := s.runs[m.Run] != nil || s.byName[m.Key] != nil
	s.mu.RUnlock()
	if m.Key == "" || taken || created.ids[m.Run] || created.names[m.Key] {
		return fmt.Errorf("%w: mutation %d creates run %q (%x) that exists or has no name", ErrInvalid, i, m.Key, m.Run)
	}
	if created.ids == nil {
		created.ids, created.names = map[[16]byte]bool{}, map[string]bool{}
	}
	created.ids[m.Run], created.names[m.Key] = true, true
	return nil
}

func (s *Store) applyOne(txn uint64, ts int64, m writeset.Mutation, floor uint64) {
	if m.Kind == writeset.CreateRun {
		return
	}
	if m.Kind == writeset.SetRetention {
		s.mu.Lock()
		c := s.retention[m.Run]
		if c == nil {
			c = &Chain{}
			s.retention[m.Run] = c
		}
		c.Entries = append(c.Entries, Entry{Version: txn, TS: ts, Value: s.keep(m.Value)})
		s.mu.Unlock()
		return
	}
	r := s.table.Load().get(m.Run)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m.Kind {
	case writeset.KVPut, writeset.KVDelete:
		e := Entry{Version: txn, TS: ts, Value: m.Value, Deleted: m.Kind == writeset.KVDelete}
		c, i, h := r.kv.find(m.Key)
		if c != nil {
			e.Value = s.keep(e.Value)
			c.Entries = appendVersion(c.Entries, e)
			return
		}
		key, c := newKeyChain(m.Key, e)
		r.kv.add(i, h, key, c)
		r.added.add(kvRef{key, c})
	case writeset.EventAppend:
		r.events = append(r.events, Event{Seq: m.Seq, Version: txn, TS: ts, Payload: s.keep(m.Value)})
	case writeset.StateSet:
		c := r.cells[m.Key]
		if c == nil {
			c = newChain()
			r.cells[strings.Clone(m.Key)] = c
		}
		c.Entries = append(c.Entries, Entry{Version: txn, TS: ts, Value: s.keep(m.Value)})
		pruneBelow(c, floor)
	}
}

// appendVersion appends e to a chain. NB: a writeset that writes one key
// twice keeps only its last write, as a Tx does: two entries of one version
// would break history reads and make the snapshot refuse to load. The
// replaced chain is a copy, never changed in place (see Run.view).
func appendVersion(es []Entry, e Entry) []Entry {
	if n := len(es); n > 0 && es[n-1].Version == e.Version {
		return append(es[:n-1:n-1], e)
	}
	return append(es, e)
}

// pruneBelow drops the entries older than the newest one at or below floor:
// no reader can see them any more.
func pruneBelow(c *Chain, floor uint64) {
	keep := 0
	for i, e := range c.Entries {
		if e.Version <= floor {
			keep = i
		}
	}
	if keep > 0 {
		c.Entries = append(c.Entries[:0:0], c.Entries[keep:]...)
	}
}
