package lazyfs

import (
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/vfs"
)

// LiveConfig configures Live.
type LiveConfig struct {
	// ProcessCrashConfig says what the child runs, how long before each
	// crash, how many iterations, the seed and the durability; its Hooks
	// are Live's own.
	proc.ProcessCrashConfig
	// Policies crash the mount in turn, one an iteration, each seeded from
	// Seed and the iteration (default drop, pages, reorder).
	Policies []vfs.CrashMode
	// Dir is scratch space for the mount point (default the system's
	// temporary directory).
	Dir string
	// OnCrash, if set, is given every crash's report.
	OnCrash func(Report)
}

// livePolicy is the crash policy of iteration i.
func (c *LiveConfig) livePolicy(i int) vfs.CrashPolicy {
	modes := c.Policies
	if len(modes) == 0 {
		modes = []vfs.CrashMode{vfs.DropUnsynced, vfs.RandomPages, vfs.ReorderUnsynced}
	}
	p := vfs.CrashPolicy{Mode: modes[i%len(modes)]}
	if p.Mode.Seeded() {
		p.Seed = c.Seed*7919 + uint64(i)
	}
	return p
}
