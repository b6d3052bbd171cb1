package crashtest

import (
	"fmt"
	"time"
)

// StateTally is what an exploration of crash states (barriers, lazy)
// judged: its results embed it, and Findings.AddStates and Cell.AddStates
// book it into a session.
type StateTally struct {
	// States counts the crash states judged.
	States int
	// AckedChecked sums, over states, the acknowledged operations the
	// state had to hold and held.
	AckedChecked int
	// Unpromised counts states of a Target that is not power safe that
	// lost acknowledged writes, and PermittedLoss those writes: reported,
	// not violations.
	Unpromised    int
	PermittedLoss int
	// Interrupted counts states whose judging the stop cut short: not in
	// States, neither passed nor violations.
	Interrupted int
	// Classes counts states per class of finding; Coverage says what the
	// states touched (lifecycle phases; for barriers also the barriers and
	// the store's files).
	Classes  ClassCounts
	Coverage *Coverage
	// StateTime sums the time per state: build it, recover, judge.
	StateTime time.Duration
}

// NewStateTally returns an empty tally, ready to count classes and
// coverage.
func NewStateTally() StateTally {
	return StateTally{Classes: ClassCounts{}, Coverage: &Coverage{}}
}

// MeanStateTime is the mean time per crash state.
func (t *StateTally) MeanStateTime() time.Duration {
	if t.States == 0 {
		return 0
	}
	return t.StateTime / time.Duration(t.States)
}

// AddStates books an exploration's states into the findings.
func (f *Findings) AddStates(t StateTally) {
	f.Runs += t.States
	f.AckedVerified += t.AckedChecked
	f.PermittedLoss += t.PermittedLoss
	f.Interrupted += t.Interrupted
	f.Cover(t.Coverage)
	if f.Classes == nil {
		f.Classes = ClassCounts{}
	}
	f.Classes.Merge(t.Classes)
}

// AddStates books an exploration's states into the cell: every state is
// a run in which the crash came.
func (c *Cell) AddStates(t StateTally) {
	c.Runs += t.States
	c.Hits += t.States
	c.AckedVerified += t.AckedChecked
}

// StatesExpectation is the expectation of a cell of crash states: that
// every state recovers to a prefix holding what was promised by its
// promise point (its last barrier, its crash point), then the states
// judged, the time per state and the states of an unsafe configuration
// that lost acknowledged writes.
func StatesExpectation(promisePoint string, states int, stateTime time.Duration, unpromised int) string {
	e := "every crash state recovers to a prefix holding what was promised by " + promisePoint
	if states > 0 {
		e += fmt.Sprintf("; %d states, %.2f ms per state", states, float64(stateTime.Microseconds())/1000/float64(states))
	}
	if unpromised > 0 {
		e += fmt.Sprintf(" (unsafe configuration: %d states lost acknowledged writes, reported)", unpromised)
	}
	return e
}
