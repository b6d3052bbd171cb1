package lazyfs

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/vfs"
)

// Live runs the workload child on a lazy mount and, at a random moment of
// each iteration, freezes it (so it acknowledges nothing after the
// crash), crashes the mount under the iteration's policy and kills it.
// The database is then recovered where it is, on the same mount, and
// judged as after a power loss; the next iteration's child starts on it,
// so crashes accumulate as on a machine that loses power again and again.
//
// It needs FUSE (see Available).
func Live(binary string, cfg LiveConfig) (res *proc.ProcessCrashResults, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	mnt, err := os.MkdirTemp(cfg.Dir, "inmem-lazy-live-")
	if err != nil {
		return nil, err
	}
	f, err := serve(newCore(vfs.NewMemFS(), "", false), mnt, Options{OnCrash: cfg.OnCrash})
	if err != nil {
		return nil, errors.Join(err, os.Remove(mnt))
	}
	defer func() { err = joinErr(err, errors.Join(f.Unmount(), os.RemoveAll(mnt))) }()
	iteration := 0
	pc := cfg.ProcessCrashConfig
	pc.Hooks = proc.Hooks{Crash: crashtest.PowerLoss, Cut: func(p *os.Process) error {
		defer func() { iteration++ }()
		if err := proc.Freeze(p); err != nil {
			return err
		}
		_, err := f.Crash(cfg.livePolicy(iteration))
		return err
	}}
	return proc.NewProcessCrashTester(binary, filepath.Join(mnt, "db"), pc).Run()
}
