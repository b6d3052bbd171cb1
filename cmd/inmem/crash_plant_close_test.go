//go:build inmem_plant_close_nosync

package main

import "testing"

// TestPlanted_CloseWithoutSync runs with the engine built with
// -tags inmem_plant_close_nosync, whose Close hands the last writes to the
// OS without syncing them. The power-loss exploration crashes right after
// the workload's clean Close, where everything acknowledged must be
// durable, and reports it in Buffered mode; the printed command reproduces
// it (scripts/test.sh runs this test).
func TestPlanted_CloseWithoutSync(t *testing.T) {
	reproducesPlanted(t, []string{"crash", "powerloss", "--iterations", "1", "--ops", "40", "--durability", "buffered", "--policies", "drop"})
}
