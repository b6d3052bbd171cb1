package proc

import (
	"fmt"
	"os"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
)

// Hooks change how an iteration crashes, for testers built on this one:
// package kernel cuts the power through the real kernel right before the
// kill and remounts before recovery. The zero value is a plain process kill.
type Hooks struct {
	// Crash is the promise recoveries are judged by: ProcessKill (the
	// default) or PowerLoss.
	Crash crashtest.CrashType
	// Cut, if set, runs right before the signal (a power cut under the
	// child).
	Cut func(*os.Process) error
	// Revive, if set, runs after the child is reaped and before recovery
	// (a remount after the power came back).
	Revive func() error
}

// env is what happens around an iteration's crash besides the signal: the
// Hooks, and for a recording (Record) the clock that stamps every
// acknowledgement and the pipe it arrives on.
type env struct {
	Hooks
	clock   func() uint64
	ackPipe func() (r, w *os.File, err error)
	// settleOnReady makes record accept the version a child recovered (its
	// R line) as the model's base: what that recovery served must survive
	// the crash that follows (recovery makes replayed data durable before it
	// serves it).
	settleOnReady bool
}

// settleAtReady takes a child's recovered version (its R line) as the new
// base of the model. The child recovered from a process kill, which loses
// nothing acknowledged: a recovered version below the last acknowledgement
// is a broken promise.
func (t *ProcessCrashTester) settleAtReady(v inmem.Version, r *KillIterationResult) {
	if acked := t.model.Latest(); v < acked {
		r.Mismatches = append(r.Mismatches, crashtest.StateMismatch{Entity: "recovery after the kill",
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
