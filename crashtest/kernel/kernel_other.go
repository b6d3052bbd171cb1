//go:build !linux

package kernel

import (
	"fmt"
	"runtime"

	"github.com/in-mem/inmem/crashtest/proc"
)

func kernelAvailable() error {
	return fmt.Errorf("%w: they need Linux (this is %s)", ErrUnavailable, runtime.GOOS)
}

func fuseAvailable() error { return kernelAvailable() }

func (k *Tester) run() (*proc.ProcessCrashResults, error) { return nil, kernelAvailable() }
