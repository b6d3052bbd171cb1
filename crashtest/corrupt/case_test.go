package corrupt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/corrupt"
)

func TestRunCorruptionCase(t *testing.T) {
	kinds := map[string]int{}
	for seed := uint64(1); seed <= 40; seed++ {
		c := corrupt.RunCase(corrupt.Config{Dir: filepath.Join(t.TempDir(), fmt.Sprint(seed)), Seed: seed, Durability: inmem.Strict})
		kinds[c.Damage]++
		if !c.Passed {
			t.Errorf("seed %d: %s: expected %s: %s", seed, c.Damage, c.Expect, c.Detail)
		}
	}
	t.Log(kinds)
	if len(kinds) < 8 {
		t.Fatalf("only %d kinds of damage drawn: %v", len(kinds), kinds)
	}
}
