// Package testutil holds what in-mem's package tests share: the -seed flag
// of randomized tests and the -update flag of golden files. Only tests
// import it.
package testutil

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var (
	// Update asks tests to rewrite their golden files and seed corpora.
	Update   = flag.Bool("update", false, "rewrite the golden files and seed corpora in testdata/")
	seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests (0: a random one, logged)")
)

// Seed returns the seed of a randomized test, -seed if given, and logs the
// command that reruns the test with it. pkg is the package's path relative
// to the module root, as go test takes it ("./internal/wal").
func Seed(t testing.TB, pkg string) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (reproduce: go test %s -run '^%s$' -seed %d)", seed, pkg, t.Name(), seed)
	return seed
}
