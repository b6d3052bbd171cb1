package kernel

import (
	"errors"
	"strings"
	"syscall"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// ErrUnavailable is returned, wrapped in an error that names exactly
// what is missing, when the kernel crash testers (Tester,
// ExploreBarriers) cannot run here: they need Linux, root, loop devices,
// mkfs.ext4 and ext4 (and FUSE for the barrier explorer).
var ErrUnavailable = errors.New("crashtest: the kernel crash testers cannot run here")

// Available reports whether a Tester can run here; the
// error says exactly what is missing.
func Available() error { return kernelAvailable() }

// BarriersAvailable reports whether ExploreBarriers can run here; the error
// says exactly what is missing.
func BarriersAvailable() error { return fuseAvailable() }

// Config configures a Tester. The embedded process configuration says what
// the child runs (in-mem's workload, or a Target's), how long before the
// power is cut, how many iterations; Signals, CrashPoints and Hooks do not
// apply (the cut is followed by SIGKILL). With KillFirst every power cut
// comes right after a child recovered from a SIGKILL: keep MinRuntime and
// MaxRuntime short then, since a cut soon after that recovery, before the
// child's own syncs, is the one that tells.
type Config struct {
	proc.ProcessCrashConfig
	// MountOptions is the ext4 mount data: "" for the defaults
	// (data=ordered), "data=writeback", "data=journal", ...
	MountOptions string
	// ImageSize is the size of the ext4 image (default 64 MiB).
	ImageSize int64
	// Dir is scratch space for the image and the mount point (default the
	// system's temporary directory).
	Dir string
}

// Tester cuts the power under a workload child through the real
// kernel: the database lives on a small ext4 on a loop device; at a random
// moment the tester freezes the child (SIGSTOP, so it cannot acknowledge
// anything after the power is gone), calls EXT4_IOC_SHUTDOWN with
// NOLOGFLUSH (xfstests' godown), so whatever has not reached the device is
// lost, then SIGKILLs the child, unmounts, detaches, attaches again and
// mounts (the journal replays), recovers and judges: Strict must keep every
// acknowledged commit;
// Buffered a prefix holding every commit acknowledged before the last
// completed sync. Iterations accumulate on one filesystem.
//
// It needs root and loop devices (see Available).
type Tester struct {
	binary string
	cfg    Config
	tester *proc.ProcessCrashTester
}

// NewTester returns a tester that runs binary as the workload
// child (see ProcessCrashConfig.Args and Env).
func NewTester(binary string, cfg Config) *Tester {
	if cfg.ImageSize <= 0 {
		cfg.ImageSize = 64 << 20
	}
	if cfg.MaxRuntime <= 0 {
		cfg.MinRuntime, cfg.MaxRuntime = 50*time.Millisecond, 400*time.Millisecond
	}
	cfg.Signals = []syscall.Signal{syscall.SIGKILL}
	cfg.CrashPoints = nil
	return &Tester{binary: binary, cfg: cfg}
}

// Run runs every iteration. Every mount and loop device it made is gone when
// it returns, whatever happened.
func (k *Tester) Run() (*proc.ProcessCrashResults, error) { return k.run() }

// Model returns the reference model of an in-mem run (nil before Run).
func (k *Tester) Model() *crashtest.ReferenceModel {
	if k.tester == nil {
		return nil
	}
	return k.tester.Model()
}

// CrashKind names the crash type of a power cut under these mount
// options, as reports show it: "kernel-ordered" (the defaults),
// "kernel-writeback", "kernel-journal", or "kernel-" and the options.
func CrashKind(opts string) string { return "kernel-" + mountName(opts) }

// mountName names mount options for reports and file names.
func mountName(opts string) string {
	o := strings.TrimSpace(opts)
	switch o {
	case "", "data=ordered":
		return "ordered"
	case "data=writeback", "data=journal":
		return strings.TrimPrefix(o, "data=")
	}
	return strings.NewReplacer("data=", "", ",", "+", "=", "-", " ", "").Replace(o)
}
