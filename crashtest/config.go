package crashtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
)

// CrashPoint is a named place in the engine where a crash can be injected
// (DESIGN.md section 5). It is the engine's crashpoint.Point.
type CrashPoint = crashpoint.Point

// The crash points, re-exported for harness users.
const (
	BeforeWalWrite             = crashpoint.BeforeWalWrite
	AfterWalWriteBeforeFsync   = crashpoint.AfterWalWriteBeforeFsync
	AfterFsync                 = crashpoint.AfterFsync
	DuringSegmentRotation      = crashpoint.DuringSegmentRotation
	DuringSnapshotBeforeRename = crashpoint.DuringSnapshotBeforeRename
	DuringSnapshotAfterRename  = crashpoint.DuringSnapshotAfterRename
	DuringManifestUpdate       = crashpoint.DuringManifestUpdate
	DuringCompaction           = crashpoint.DuringCompaction
	DuringRecovery             = crashpoint.DuringRecovery
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

// CrashConfig configures a CrashHarness.
type CrashConfig struct {
	// CrashProbability is the chance that any one hit of a crash point
	// crashes, when no point is set with SetCrashPoint. 0 means crash only
	// at the end of the scenario.
	CrashProbability float64
	// CrashTypes are the crash types to use; each scenario picks one with
	// the seeded generator.
	CrashTypes []CrashType
	// MaxOperations stops a scenario after this many operations (0: no
	// limit); further operations return ErrMaxOperations.
	MaxOperations int
	// Timeout bounds one scenario plus its recovery; a hang is reported as a
	// failure.
	Timeout time.Duration
	// Seed drives every random choice; the same seed gives the same run.
	Seed uint64
	// Durability is the mode the database runs in and the promise the
	// recovered state is judged against.
	Durability inmem.Durability
	// PowerLossPolicy chooses what a PowerLoss keeps of unsynced data. Its
	// Seed is ignored: each crash derives one from Seed.
	PowerLossPolicy vfs.CrashMode
	// Options are the other database options (SegmentSize, codec, ...).
	// FS and CrashPoints are the harness's and are ignored here.
	Options inmem.Options
	// WrapFS, if set, wraps the filesystem the database runs on during a
	// scenario (not during recovery): a seam for fault injection, or for
	// proving the harness catches a broken filesystem.
	WrapFS func(vfs.FS) vfs.FS
	// AfterCrash, if set, runs on the crash state before recovery: fsys holds
	// the database in dir exactly as the crash left it. A seam for damaging
	// files behind the engine's back.
	AfterCrash func(fsys vfs.FS, dir string) error
	// Reproduce, if set, is the command that reruns this harness with the
	// same seed; it is printed with every failure. %d is replaced by the seed.
	Reproduce string
}

// DefaultCrashConfig returns a configuration that crashes at random points
// (10% of hits) with a kill or an abort, in Strict mode.
func DefaultCrashConfig() CrashConfig {
	return CrashConfig{
		CrashProbability: 0.1,
		CrashTypes:       []CrashType{ProcessKill, ProcessAbort},
		MaxOperations:    1000,
		Timeout:          30 * time.Second,
		Seed:             1,
		Durability:       inmem.Strict,
		PowerLossPolicy:  vfs.DropUnsynced,
	}
}
