package proc

import (
	"github.com/in-mem/inmem"
)

// syncTracker learns from a workload child's acknowledgements which
// versions a completed sync (Flush, Checkpoint) made durable: Buffered
// mode's promise after a power loss.
//
// A sync covers every commit acknowledged before the sync started. The pipe
// does not say when a sync started, but it says enough: the flushing
// writer's previous line was written before it called Flush, so every
// acknowledgement that reached the pipe before that line belongs to a commit
// that returned before the sync began. Concurrent commits acknowledged later
// may or may not be covered; they are not promised.
type syncTracker struct {
	latest inmem.Version         // the highest acknowledged version so far
	before map[int]inmem.Version // per writer: latest as of its previous line
	base   inmem.Version
}

func newSyncTracker(base inmem.Version) *syncTracker {
	return &syncTracker{latest: base, base: base, before: map[int]inmem.Version{}}
}

// observe takes the next acknowledgement line; isSync says whether the line's
// operation is a sync. It returns the version a completed sync made durable.
func (s *syncTracker) observe(l ackLine, isSync bool) (inmem.Version, bool) {
	if l.kind == 'A' {
		s.latest = max(s.latest, l.version)
	}
	covered, seen := s.before[l.writer]
	if !seen {
		covered = s.base
	}
	s.before[l.writer] = s.latest
	if l.kind == 'A' && isSync {
		return covered, true
	}
	return 0, false
}
