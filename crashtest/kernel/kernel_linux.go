package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

func (k *Tester) run() (res *proc.ProcessCrashResults, err error) {
	if err := kernelAvailable(); err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(k.cfg.Dir, "inmem-kernel-")
	if err != nil {
		return nil, err
	}
	mnt := filepath.Join(scratch, "mnt")
	m := newExt4Mount(filepath.Join(scratch, "ext4.img"), mnt, k.cfg.MountOptions)
	defer func() {
		derr := m.down()
		if derr == nil {
			derr = os.RemoveAll(scratch)
		}
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("crashtest: cleaning up %s: %w", scratch, derr))
		}
	}()
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	if err := makeImage(m.image, k.cfg.ImageSize); err != nil {
		return nil, err
	}
	if err := m.up(); err != nil {
		return nil, err
	}
	pc := k.cfg.ProcessCrashConfig
	pc.Hooks = proc.Hooks{Crash: crashtest.PowerLoss, Cut: func(p *os.Process) error { return powerCut(p, mnt) }, Revive: m.cycle}
	t := proc.NewProcessCrashTester(k.binary, filepath.Join(mnt, "db"), pc)
	k.tester = t
	return t.Run()
}
