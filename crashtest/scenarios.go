package crashtest

import (
	"fmt"

	"github.com/in-mem/inmem"
)

// MixedScenario returns a scenario that reaches every crash point of the
// engine given a small segment size (4 KiB): puts, deletes, events, state
// cells and CAS across three runs, multi-write transactions, enough data to
// rotate segments, a flush, a checkpoint, more writes, a compaction and a
// clean close and reopen. rounds scales it; values are unique per operation.
func MixedScenario(rounds int) func(*ScenarioRunner) error {
	return func(r *ScenarioRunner) error {
		for round := 0; round < rounds; round++ {
			if err := mixedRound(r, round); err != nil {
				return err
			}
		}
		return nil
	}
}

func mixedRound(r *ScenarioRunner, round int) error {
	runs := []string{"alpha", "beta", "gamma"}
	n := r.Model().Ops()
	val := func(run, key string) []byte { return UniqueValue(run, key, len(n)+round*1000, 200) }
	steps := []func() error{
		func() error { return r.KVPut(runs[0], "k1", val(runs[0], "k1")) },
		func() error { return r.EventAppend(runs[1], val(runs[1], "event")) },
		func() error { return r.StateSet(runs[2], "cell", val(runs[2], "cell")) },
		func() error {
			return r.Update(Put(runs[0], "k2", val(runs[0], "k2")), Append(runs[0], val(runs[0], "ev")),
				CASCurrent(runs[2], "cell", val(runs[2], "cas")))
		},
	}
	for i := 0; i < 12; i++ {
		run, key := runs[i%3], fmt.Sprintf("key-%d", i)
		steps = append(steps, func() error { return r.KVPut(run, key, val(run, key)) })
	}
	steps = append(steps,
		func() error { return r.KVDelete(runs[0], "k1") },
		r.Flush,
		r.Checkpoint,
		func() error { return r.KVPut(runs[1], "after-ckpt", val(runs[1], "after-ckpt")) },
		func() error { return r.Compact(inmem.CompactWALOnly) },
		func() error { return r.EventAppend(runs[1], val(runs[1], "event2")) },
		r.Reopen,
		func() error { return r.KVPut(runs[2], "after-reopen", val(runs[2], "after-reopen")) },
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
