package crashtest

import (
	"fmt"

	"github.com/in-mem/inmem"
)

// ProbeNext commits one write to a recovered database, outside any model's
// history: it must succeed at the version right after the recovered ones
// (recovery must neither reuse nor skip a version). It returns what went
// wrong, if anything.
func ProbeNext(db *inmem.DB) []StateMismatch {
	last := db.LastVersion()
	v, err := db.Commit(func(tx *inmem.Tx) error {
		id, err := tx.GetOrCreateRun("crashtest-probe")
		if err != nil {
			return err
		}
		return tx.KVPut(id, "probe", []byte("after recovery"))
	})
	if err != nil || v != last+1 {
		return []StateMismatch{{Entity: "probe", Expected: fmt.Sprintf("the next commit at v%d", last+1),
			Actual: fmt.Sprintf("v%d, %v", v, err)}}
	}
	return nil
}
