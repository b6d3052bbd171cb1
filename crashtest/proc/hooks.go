package proc

import (
	"os"

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
