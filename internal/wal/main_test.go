package wal

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var (
	update   = flag.Bool("update", false, "rewrite the golden files in testdata/")
	seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests (0: a random one, logged)")
)

// testSeed returns the -seed flag or a random seed, and logs how to rerun
// the test with it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (reproduce: go test ./internal/wal -run '^%s$' -seed %d)", seed, t.Name(), seed)
	return seed
}
