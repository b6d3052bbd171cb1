//go:build inmem_plant_snapshot_trustlen

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/corrupt"
)

// TestPlanted_SnapshotTrustsBlockLength runs with the engine built with
// -tags inmem_plant_snapshot_trustlen, whose snapshot reader trusts a
// damaged block length and allocates what it says. The corruption
// campaign's bound on recovery's allocations reports it; the printed
// command reproduces it (scripts/test.sh runs this test).
func TestPlanted_SnapshotTrustsBlockLength(t *testing.T) {
	seed := uint64(0)
	for s := uint64(1); s <= 400 && seed == 0; s++ {
		c := corrupt.RunCase(corrupt.Config{Dir: "/db", Seed: s, Durability: inmem.Strict})
		if strings.HasPrefix(c.Damage, "set a snapshot block's length") {
			if c.Passed || !strings.Contains(c.Detail, "allocated") {
				t.Fatalf("seed %d: a reader that trusts a block length of 256 MiB passed: %+v", s, c)
			}
			seed = s
		}
	}
	if seed == 0 {
		t.Fatal("no seed drew the damage to a snapshot block's length")
	}
	reproducesPlanted(t, []string{"crash", "corrupt", "--seed", fmt.Sprint(seed), "--iterations", "1", "--durability", "strict"})
}
