package crashtest

import (
	"fmt"
	"slices"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/vfs"
)

// A process crash, then a power loss: the harness's ThenPowerLoss. The
// crash keeps unsynced writes in the (simulated) page cache; recovery
// serves them; a power loss may then drop whatever is still unsynced. What
// the recovery served must survive it, because recovery makes the replayed
// log durable before it returns.

// promised is what a crash state at a clock value must hold.
type promised struct {
	at       uint64
	required inmem.Version
}

// thenPowerLoss runs the first commits after the recovery db is (on the
// recording filesystem rec), then cuts the power at every sync point of the
// recovery and of those commits, and judges every state.
func (h *CrashHarness) thenPowerLoss(db *inmem.DB, rec *fsrecord.FS) []StateMismatch {
	during := h.model.clone() // judges the states before recovery returned
	duringReq := during.Required(Promise{Durability: h.cfg.Durability, Crash: PowerLoss})
	opened := rec.Clock()
	h.model.Settle(db.LastVersion())
	timeline := []promised{{at: opened, required: db.LastVersion()}}
	r := newRunner(db, h.model, make(chan struct{}), h.cfg.Timeout, 0)
	r.after = func() { timeline = append(timeline, promised{rec.Clock(), h.required()}) }
	h.firstCommits(r)
	log := rec.Log()
	var ms []StateMismatch
	rp := rec.Replayer()
	for _, pt := range powerLossPoints(log, opened, timeline) {
		if err := rp.Advance(pt); err != nil {
			return append(r.mismatches, StateMismatch{"replay", "the recorded operations to replay", err.Error()})
		}
		m, req := h.model, requiredAt(timeline, uint64(pt))
		if uint64(pt) < opened {
			m, req = during, duringReq
		}
		for _, mm := range h.judgePowerLoss(rp.FS().Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced}), m, req) {
			mm.Entity = fmt.Sprintf("power loss after operation %d of %d since the kill (%s): %s", pt, len(log), lastOp(log, pt), mm.Entity)
			ms = append(ms, mm)
		}
	}
	return append(r.mismatches, ms...)
}

// required is what a power loss must keep of the acknowledged commits now.
func (h *CrashHarness) required() inmem.Version {
	if h.cfg.Durability == inmem.Strict {
		return h.model.Latest()
	}
	return h.model.Required(Promise{Durability: h.cfg.Durability, Crash: PowerLoss})
}

// firstCommits are the commits after the recovery: a few puts, a flush,
// one more put.
func (h *CrashHarness) firstCommits(r *ScenarioRunner) {
	put := func(i int) {
		key := fmt.Sprintf("after-kill-%d-%d", h.scenarios, i)
		if err := r.KVPut("crashtest-probe", key, UniqueValue("crashtest-probe", key, len(h.model.ops), 16)); err != nil {
			r.mismatch("probe", "a write after recovery to succeed", err.Error())
		}
	}
	for i := range 3 {
		put(i)
	}
	if err := r.Flush(); err != nil {
		r.mismatch("flush", "a flush after recovery to succeed", err.Error())
	}
	put(3)
}

// powerLossPoints are the crash points: around every sync, where the
// recovery returned and every commit after it was acknowledged, the end.
func powerLossPoints(log []fsrecord.Op, opened uint64, timeline []promised) []int {
	pts := []int{int(opened), len(log)}
	for i, op := range log {
		if op.IsSync() {
			pts = append(pts, i, i+1)
		}
	}
	for _, p := range timeline {
		pts = append(pts, int(min(p.at, uint64(len(log)))))
	}
	slices.Sort(pts)
	return slices.Compact(pts)
}

// requiredAt is what a state at clock value at must hold.
func requiredAt(timeline []promised, at uint64) inmem.Version {
	var req inmem.Version
	for _, p := range timeline {
		if p.at <= at {
			req = max(req, p.required)
		}
	}
	return req
}

func lastOp(log []fsrecord.Op, pt int) string {
	if pt == 0 {
		return "the kill"
	}
	return log[pt-1].String()
}

// judgePowerLoss recovers one power-loss state and judges it against m:
// a prefix of its history holding at least required.
func (h *CrashHarness) judgePowerLoss(fsys *vfs.MemFS, m *ReferenceModel, required inmem.Version) []StateMismatch {
	db, err := inmem.Open(h.dir, h.options(fsys, nil))
	if err != nil {
		return []StateMismatch{{"recovery", "the database to open", err.Error()}}
	}
	defer db.Close()
	v := m.Judge(db, Promise{Durability: h.cfg.Durability, Crash: PowerLoss, Upto: &required})
	return v.Mismatches
}
