package crashtest

import (
	"fmt"
	"time"

	"github.com/in-mem/inmem"
)

// CrashTestResult is the outcome of one scenario: its crash, its recovery
// and the verdict on the recovered state.
type CrashTestResult struct {
	// ScenarioSucceeded is false if the scenario function returned an error
	// other than ErrCrashed (ScenarioErr).
	ScenarioSucceeded bool
	ScenarioErr       error
	// RecoverySucceeded says the database opened after the crash.
	RecoverySucceeded bool
	// Crashed says a crash point fired; CrashPoint is which (nil if the crash
	// came at the end of the scenario).
	Crashed         bool
	CrashPoint      *CrashPoint
	CrashType       CrashType
	Durability      inmem.Durability
	RecoveryCrashes int // crashes during recovery (DuringRecovery)
	// OperationsCompleted counts operations that returned before the crash.
	OperationsCompleted int
	Duration            time.Duration
	RecoveryDuration    time.Duration
	Recovery            RecoveryVerification
	// RecoveryReport is what the verified recovery found and did.
	RecoveryReport inmem.RecoveryReport
	// CrashFiles lists the snapshot files (SNAPSHOTS/...) the crash left, before
	// recovery.
	CrashFiles   []string
	Seed         uint64 // the harness seed
	ScenarioSeed uint64 // the seed of this scenario's random choices
	// Report, for a failure, says what broke, the last operations, and how to
	// reproduce it.
	Report string
}

// Passed reports whether the scenario's recovery was judged valid.
func (r *CrashTestResult) Passed() bool { return r.Recovery.Valid }

func (r *CrashTestResult) String() string {
	point := "end of scenario"
	if r.CrashPoint != nil {
		point = r.CrashPoint.String()
	}
	verdict := "ok"
	if !r.Recovery.Valid {
		verdict = fmt.Sprintf("FAILED (%d mismatches)", len(r.Recovery.Mismatches))
	}
	return fmt.Sprintf("%s at %s (%s): %d ops, recovered v%d: %s",
		r.CrashType, point, r.Durability, r.OperationsCompleted, r.Recovery.Verdict.Recovered, verdict)
}

// RecoveryVerification is the judgement of a recovered database.
type RecoveryVerification struct {
	// Valid: the database opened and matched the model under the promise.
	Valid bool
	// Err is why the database did not open, if it did not.
	Err error
	// Mismatches lists every difference, those the runner saw while the
	// scenario ran included.
	Mismatches []StateMismatch
	Verdict    Verdict
}
