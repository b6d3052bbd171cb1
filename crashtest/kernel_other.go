//go:build !linux

package crashtest

import (
	"fmt"
	"runtime"
)

func kernelAvailable() error {
	return fmt.Errorf("%w: they need Linux (this is %s)", ErrKernelUnavailable, runtime.GOOS)
}

func fuseAvailable() error { return kernelAvailable() }

func (k *KernelCrashTester) run() (*ProcessCrashResults, error) { return nil, kernelAvailable() }
