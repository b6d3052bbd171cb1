package kernel

import (
	"fmt"
	"strings"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"

	"github.com/in-mem/inmem"
)

// BarrierConfig configures ExploreBarriers.
type BarrierConfig struct {
	// Child starts the workload child: in-mem's, or a target child with
	// Target.
	Child crashtest.Child
	// Target, if set, records a Target's key/value workload instead of
	// in-mem's.
	Target *proc.TargetWorkload
	Seed   uint64
	// Durability the in-mem child runs in, and the promise judged.
	Durability inmem.Durability
	// Expect, if set, is the promise judged instead: Buffered expected to
	// keep Strict's promise proves the explorer sees loss.
	Expect *inmem.Durability
	// Ops per writer: the child runs them all and closes the database.
	// Default 64 (one of each maintenance operation of the generator's
	// cycle).
	Ops int
	// Writers in the child (default 1: the same seed issues the same
	// operations).
	Writers     int
	SegmentSize int64 // default 16 KiB, so segments rotate
	// ReopenEvery makes in-mem's child close the database cleanly and open
	// it again after every n operations (a Target's lifecycle is
	// Target.Lifecycle).
	ReopenEvery int
	// MountOptions is the ext4 mount data ("" for the defaults).
	MountOptions string
	// ImageSize of the ext4 image (default 32 MiB).
	ImageSize int64
	// RandomStates is how many seeded subsets of the writes between two
	// barriers to build per barrier (default 2; -1 for none).
	RandomStates int
	// MaxStates, if positive, judges a seeded sample of at most that many
	// states (the last state, everything written, always among them).
	MaxStates int
	// Only, if set, judges only the state with this name (to reproduce it).
	Only string
	// Workers judge states in parallel, each with its own loop device
	// (default 2).
	Workers int
	// Dir is scratch space (default the system's temporary directory).
	Dir string
	// KeepDir, if set, receives the image of every crash state that broke a
	// promise, as it was before mounting: mount it on a loop device and
	// inspect the database (inmem inspect, inmem verify).
	KeepDir string
	// Progress, if set, is called as states are judged.
	Progress func(done, total int)
	// Stop, if set, ends the exploration (after the states being judged)
	// once closed.
	Stop <-chan struct{}
}

// BarrierResult is what an exploration recorded and found.
type BarrierResult struct {
	Writes       int   // writes the kernel sent to the device
	Barriers     int   // flushes it sent
	BytesWritten int64 //
	AckedOps     int   // acknowledged operations (puts for a Target)
	// StateTally counts the states judged and what they held; a state's
	// time is: build the image, attach, mount (the journal replays),
	// recover, judge, unmount, detach.
	crashtest.StateTally
	RecordTime time.Duration // running the workload on the recording device
	Duration   time.Duration
	Violations []BarrierViolation
	// Notices are states with findings that break no promise (a Target
	// that did not open after a crash during its creation).
	Notices []BarrierViolation
}

// BarrierViolation is one crash state whose recovery broke a promise.
type BarrierViolation struct {
	Seed       uint64
	State      string // b<j>: everything up to barrier j; b<j>+r<s>: and seeded subset s of the writes after it
	Required   string // what the state had to hold
	Err        error  // the state did not mount or the database did not open
	Mismatches []crashtest.StateMismatch
	Image      string // the state's image, with KeepDir
	// Classes are the classes of what broke (a Target's); Phase is the
	// lifecycle phase the state fell in.
	Classes []crashtest.Class
	Phase   string
}

func (v BarrierViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, crash state %s (%s)\n", v.Seed, v.State, v.Required)
	if len(v.Classes) > 0 {
		fmt.Fprintf(&b, "  classes: %v; lifecycle phase: %s\n", v.Classes, v.Phase)
	}
	if v.Err != nil {
		fmt.Fprintf(&b, "  %v\n", v.Err)
	}
	crashtest.WriteMismatches(&b, v.Mismatches)
	if v.Image != "" {
		fmt.Fprintf(&b, "  image: %s (mount -o loop, then inmem inspect MNT/db)\n", v.Image)
	}
	return strings.TrimRight(b.String(), "\n")
}

func (c *BarrierConfig) defaults() {
	if c.Ops <= 0 {
		c.Ops = 64
	}
	if c.Writers <= 0 {
		c.Writers = 1
	}
	if c.SegmentSize <= 0 {
		c.SegmentSize = 16 << 10
	}
	if c.ImageSize <= 0 {
		c.ImageSize = 32 << 20
	}
	if c.RandomStates == 0 {
		c.RandomStates = 2
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
}

// ExploreBarriers runs the workload child on ext4 over a loop device whose
// image our FUSE filesystem serves, logging every write and flush the
// kernel sends down (the way dm-log-writes does). From the log it builds the
// crash states a real disk can be left in, the way CrashMonkey does: the
// writes up to each flush barrier, and seeded subsets of the 4 KiB blocks
// written between two barriers. Each state is mounted on a fresh loop device
// over a copy of the image (the journal replays), recovered and judged:
// every commit acknowledged before the state's last barrier (Strict; for
// Buffered, before the last completed sync; for a Target, every
// acknowledged put of a power-safe configuration) must be there, and the
// state must be a prefix of the history.
//
// It needs root, loop devices and FUSE (see BarriersAvailable).
func ExploreBarriers(cfg BarrierConfig) (*BarrierResult, error) {
	cfg.defaults()
	return exploreBarriers(cfg)
}
