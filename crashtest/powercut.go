package crashtest

import (
	"fmt"
	"os"

	"github.com/in-mem/inmem"
)

// crashEnv is what happens around an iteration's crash besides the signal,
// and what the crash promises. The zero value is a plain process kill; the
// ext4 power cut (KernelCrashTester) cuts the power right before the kill
// and remounts the filesystem before recovery; the barrier explorer stamps
// every acknowledgement with its write log's length.
type crashEnv struct {
	crash  CrashType               // the promise recoveries are judged by: ProcessKill or PowerLoss
	cut    func(*os.Process) error // runs right before the signal
	revive func() error            // runs after the child is reaped, before recovery
	clock  func() uint64           // stamps every acknowledgement line as it arrives
	// ackPipe, if set, replaces os.Pipe for the acknowledgement pipe: the
	// tester's read end, the child's write end.
	ackPipe func() (r, w *os.File, err error)
	// before, if set, runs at the start of every in-mem iteration (the
	// kill before the power cut, KernelConfig.KillFirst).
	before func(i int) error
	// settleOnReady makes record accept the version a child recovered (its
	// R line) as the model's base: what that recovery served must survive
	// the crash that follows (DESIGN.md section 4).
	settleOnReady bool
}

func (t *ProcessCrashTester) beforeIteration(i int) error {
	if t.env.before == nil {
		return nil
	}
	return t.env.before(i)
}

// settleAtReady takes a child's recovered version (its R line) as the new
// base of the model. The child recovered from a process kill, which loses
// nothing acknowledged: a recovered version below the last acknowledgement
// is a broken promise.
func (t *ProcessCrashTester) settleAtReady(v inmem.Version, r *KillIterationResult) {
	if acked := t.model.Latest(); v < acked {
		r.Mismatches = append(r.Mismatches, StateMismatch{Entity: "recovery after the kill",
			Expected: fmt.Sprintf("every version up to v%d (acknowledged before the kill)", acked),
			Actual:   fmt.Sprintf("the next child recovered up to v%d", v)})
		return
	}
	t.model.Settle(v)
}

// stopped reports whether stop (nil: never) is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

func (t *ProcessCrashTester) ackPipe() (*os.File, *os.File, error) {
	if t.env.ackPipe != nil {
		return t.env.ackPipe()
	}
	return os.Pipe()
}

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

// syncedUpTo records that a completed sync made every version up to v
// durable (see syncTracker): Buffered mode's promise after a power loss.
func (m *ReferenceModel) syncedUpTo(v inmem.Version) {
	if v > m.syncedAcks {
		m.syncedAcks = v
		m.syncs = append(m.syncs, syncStamp{at: m.now(), acked: v})
	}
}
