package crashtest

import (
	"fmt"
	"strings"

	"github.com/in-mem/inmem/crashpoint"
)

// CrashPoint is a named place in the engine where a crash can be injected
// (the list and what each point means: package crashpoint). It is the
// engine's crashpoint.Point.
type CrashPoint = crashpoint.Point

// The crash points, re-exported for harness users.
const (
	BeforeWALWrite             = crashpoint.BeforeWALWrite
	AfterWALWriteBeforeFsync   = crashpoint.AfterWALWriteBeforeFsync
	AfterFsync                 = crashpoint.AfterFsync
	DuringSegmentRotation      = crashpoint.DuringSegmentRotation
	DuringSnapshotBeforeRename = crashpoint.DuringSnapshotBeforeRename
	DuringSnapshotAfterRename  = crashpoint.DuringSnapshotAfterRename
	DuringManifestUpdate       = crashpoint.DuringManifestUpdate
	DuringCompaction           = crashpoint.DuringCompaction
	DuringRecovery             = crashpoint.DuringRecovery
	DuringLogEndUpdate         = crashpoint.DuringLogEndUpdate
	DuringSegmentPrepare       = crashpoint.DuringSegmentPrepare
)

// AllCrashPoints returns every crash point, in order.
func AllCrashPoints() []CrashPoint { return crashpoint.All() }

// ParseCrashPoint parses a crash point's name.
func ParseCrashPoint(s string) (CrashPoint, error) { return crashpoint.Parse(s) }

// CrashType is how the world ends.
type CrashType uint8

const (
	// ProcessKill is SIGKILL: the process vanishes; everything it wrote is
	// in the kernel and survives.
	ProcessKill CrashType = iota
	// ProcessAbort is SIGABRT: same effect on files as a kill.
	ProcessAbort
	// SegFault is SIGSEGV: same effect on files as a kill.
	SegFault
	// PowerLoss loses what was not synced, as the crash policy says.
	PowerLoss
	numCrashTypes
)

var crashTypeNames = [numCrashTypes]string{"kill", "abort", "segv", "powerloss"}

func (t CrashType) String() string {
	if t < numCrashTypes {
		return crashTypeNames[t]
	}
	return fmt.Sprintf("CrashType(%d)", uint8(t))
}

// ParseCrashType parses the names String returns.
func ParseCrashType(s string) (CrashType, error) {
	for i, n := range crashTypeNames {
		if strings.EqualFold(s, n) {
			return CrashType(i), nil
		}
	}
	return 0, fmt.Errorf("crashtest: unknown crash type %q (want kill, abort, segv or powerloss)", s)
}

// LosesUnsynced reports whether the crash type can lose data that was
// written but not synced.
func (t CrashType) LosesUnsynced() bool { return t == PowerLoss }
