package proc

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Lifecycle is what a workload does besides its writes: clean close and
// reopen cycles, and crash, recover, crash again. Every tester takes it
// (kill, the ext4 power cut, the barrier explorer), for in-mem's own
// workload child and for Targets alike, so that a crash can come during a
// store's creation, among its writes, during a clean close, during the
// open after it, and during the recovery from an earlier crash.
//
//   - ReopenEvery: after every n operations (all writers together), the
//     workload waits until no operation is under way, closes the store
//     cleanly and opens it again. A Target without Caps.Reopen is reopened
//     in a new process. in-mem's child reports the cycle on the
//     acknowledgement pipe as "L closing", "L close <version>" and "L open <version>";
//     a clean close is a durability point (Buffered syncs on Close).
//   - KillFirst: the run starts with a process SIGKILLed in the middle of
//     its writes (the kill tester and the ext4 power cut: before every
//     iteration's crash; the barrier explorer: once, in the recorded run),
//     so that the crash that is judged falls on a store recovering from a
//     crash.
//
// Its text form, a flag's value, is "reopen-every=N,kill-first" (either
// part may be left out; "" is none).
type Lifecycle struct {
	ReopenEvery int
	KillFirst   bool
}

// String returns the text form ParseLifecycle reads.
func (l Lifecycle) String() string {
	var parts []string
	if l.ReopenEvery > 0 {
		parts = append(parts, "reopen-every="+strconv.Itoa(l.ReopenEvery))
	}
	if l.KillFirst {
		parts = append(parts, "kill-first")
	}
	return strings.Join(parts, ",")
}

// ParseLifecycle reads the text form of a Lifecycle.
func ParseLifecycle(s string) (Lifecycle, error) {
	var l Lifecycle
	for _, part := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "":
		case "kill-first":
			l.KillFirst = true
		case "reopen-every":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return Lifecycle{}, fmt.Errorf("lifecycle %q: reopen-every wants a positive number", s)
			}
			l.ReopenEvery = n
		default:
			return Lifecycle{}, fmt.Errorf("lifecycle %q: unknown part %q (want reopen-every=N, kill-first)", s, name)
		}
	}
	return l, nil
}

// Cycler runs a workload's operations and its clean close and reopen
// cycles: operations share it, a cycle has it alone. in-mem's child and
// the Target workload both use it; so can an in-process workload.
type Cycler struct {
	every int
	mu    sync.RWMutex
	n     atomic.Int64
	cycle func() error
}

// NewCycler returns a Cycler that runs cycle after every n operations (0:
// never).
func NewCycler(every int, cycle func() error) *Cycler {
	return &Cycler{every: every, cycle: cycle}
}

// Op runs one operation, then, if it was the n-th, the cycle: once every
// other operation under way has finished, and before any other starts.
func (c *Cycler) Op(fn func() error) error {
	c.mu.RLock()
	err := fn()
	c.mu.RUnlock()
	if err != nil || c.every <= 0 || c.n.Add(1)%int64(c.every) != 0 {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cycle()
}
