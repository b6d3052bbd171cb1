package wal

import (
	"github.com/in-mem/inmem/internal/testutil"
	"testing"
)

var (
	update = testutil.Update
)

// testSeed returns the -seed flag or a random seed, and logs how to rerun
// the test with it.
func testSeed(t *testing.T) uint64 { return testutil.Seed(t, "./internal/wal") }
