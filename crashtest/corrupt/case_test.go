package corrupt_test

import (
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/corrupt"
)

var durabilities = []inmem.Durability{inmem.Strict, inmem.Buffered}

// TestRunCorruptionCase runs 200 seeded cases, clean closes and crashes,
// Strict and Buffered, every damage: each must have the outcome the rule
// of the formats says, within the bounds on recovery's cost.
func TestRunCorruptionCase(t *testing.T) {
	kinds := map[string]int{}
	for seed := uint64(1); seed <= 200; seed++ {
		c := corrupt.RunCase(corrupt.Config{Dir: "/db", Seed: seed, Durability: durabilities[seed%2]})
		kinds[c.Damage]++
		if !c.Passed {
			t.Errorf("seed %d: %s: expected %s: %s", seed, c.Damage, c.Expect, c.Detail)
		}
	}
	t.Log(kinds)
	if len(kinds) < len(corrupt.Damages()) {
		t.Fatalf("only %d kinds of damage drawn: %v", len(kinds), kinds)
	}
}
