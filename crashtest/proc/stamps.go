package proc

import (
	"os"
	"sync"
)

// StampedAcks is the tester's side of an acknowledgement pipe that a
// filesystem under test serves as a file (the barrier and lazy explorers):
// the child writes its lines to that file, so each write reaches the
// filesystem in order with the child's other operations, and the
// filesystem stamps every line with its clock on the way to the tester.
// RecordConfig takes Pipe as AckPipe and Next as Clock.
type StampedAcks struct {
	clock  func() uint64
	mu     sync.Mutex
	out    *os.File // where lines go on to the tester (nil: closed)
	stamps []uint64 // the clock when each line was written, in order
	next   int      // the stamp Next hands out next
}

// NewStampedAcks returns the acknowledgements of a filesystem whose clock
// is clock.
func NewStampedAcks(clock func() uint64) *StampedAcks { return &StampedAcks{clock: clock} }

// Open starts a new pipe and returns the tester's end; the filesystem's
// file writes to the other.
func (a *StampedAcks) Open() (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.out, a.stamps, a.next = pw, nil, 0
	a.mu.Unlock()
	return pr, nil
}

// Write stamps each line of p with the clock and passes p on to the
// tester.
func (a *StampedAcks) Write(p []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out == nil {
		return os.ErrClosed
	}
	now := a.clock()
	for _, c := range p {
		if c == '\n' {
			a.stamps = append(a.stamps, now)
		}
	}
	_, err := a.out.Write(p)
	return err
}

// Next returns the stamp of the next line the tester reads: lines reach
// it in the order they were written.
func (a *StampedAcks) Next() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= len(a.stamps) {
		return a.clock() // cannot happen: every line was stamped on its way
	}
	a.next++
	return a.stamps[a.next-1]
}

// Close ends the tester's pipe: EOF, the child is gone.
func (a *StampedAcks) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out != nil {
		a.out.Close()
		a.out = nil
	}
}
