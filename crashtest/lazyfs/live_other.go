//go:build !linux

package lazyfs

import "github.com/in-mem/inmem/crashtest/proc"

// Live needs Linux and FUSE: here it returns an error that says so.
func Live(binary string, cfg LiveConfig) (*proc.ProcessCrashResults, error) { return nil, Available() }
