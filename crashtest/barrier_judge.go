package crashtest

import (
	"fmt"
	"sort"

	"github.com/in-mem/inmem"
)

// stateJudge judges one crash state of a recorded workload. A state's
// clock is the length of the write log it holds: an acknowledgement that
// arrived when the log was n operations long belongs to an operation whose
// barrier is among those n, so every state holding them must hold it.
type stateJudge interface {
	// acked is the number of acknowledged operations (puts) recorded.
	acked() int
	// requiredText says what a state at clock n must hold.
	requiredText(n uint64) string
	// judge recovers the database in dir, a state at clock n, and returns
	// the acknowledged operations it had to hold and held, every broken
	// promise, whether unpromised losses were seen, or why it did not open.
	judge(dir string, n uint64) (acked int, mismatches []StateMismatch, unpromised bool, err error)
}

// inmemStateJudge judges in-mem crash states against the whole history: the
// state must be a prefix of it, holding at least what was promised by the
// state's clock.
type inmemStateJudge struct {
	model       *ReferenceModel
	durability  inmem.Durability // the child's
	promise     inmem.Durability // judged (the child's, unless expected otherwise)
	segmentSize int64
	timeline    []promisePoint
}

// promisePoint is what was promised once the clock reached at.
type promisePoint struct {
	at     uint64
	acked  inmem.Version // the highest acknowledged version (Strict)
	synced inmem.Version // the highest version a completed sync covered (Buffered)
}

func newInmemStateJudge(m *ReferenceModel, run *childRun, cc ChildConfig) *inmemStateJudge {
	j := &inmemStateJudge{model: m, durability: cc.Durability, promise: cc.Durability, segmentSize: cc.SegmentSize}
	kinds := childOpKinds(cc)
	syncs := newSyncTracker(0)
	var p promisePoint
	for i, l := range run.lines {
		if l.kind == 'R' || l.kind == 'K' || i >= len(run.at) {
			continue
		}
		k := kinds(l.writer, l.op)
		if l.kind == 'A' && l.version != 0 {
			p.acked = max(p.acked, l.version)
		}
		if v, ok := syncs.observe(l, k == OpFlush || k == OpCheckpoint); ok {
			p.synced = max(p.synced, v)
		}
		p.at = run.at[i]
		j.timeline = append(j.timeline, p)
	}
	return j
}

// childOpKinds returns the kind of op k of writer w of the workload child,
// regenerated from the seed as record does.
func childOpKinds(cc ChildConfig) func(w, k int) OpKind {
	cfg := WorkloadConfig{Seed: iterationSeed(cc.Seed, cc.Iteration)}
	gens := map[int]*Generator{}
	kinds := map[[2]int]OpKind{}
	return func(w, k int) OpKind {
		g := gens[w]
		if g == nil {
			g = NewGenerator(cfg, uint64(w), "")
			gens[w] = g
		}
		for g.n < k {
			kinds[[2]int{w, g.n + 1}] = g.Next().Kind
		}
		return kinds[[2]int{w, k}]
	}
}

func (j *inmemStateJudge) acked() int {
	n := 0
	for _, op := range j.model.ops {
		if op.Kind == OpWrite && op.Status == Acked {
			n++
		}
	}
	return n
}

// required returns the version a state at clock n must hold.
func (j *inmemStateJudge) required(n uint64) inmem.Version {
	i := sort.Search(len(j.timeline), func(i int) bool { return j.timeline[i].at > n }) - 1
	if i < 0 {
		return 0
	}
	switch j.promise {
	case inmem.Buffered:
		return j.timeline[i].synced
	case inmem.InMemory:
		return 0
	}
	return j.timeline[i].acked
}

func (j *inmemStateJudge) requiredText(n uint64) string {
	what := "acknowledged"
	if j.promise == inmem.Buffered {
		what = "covered by a completed sync"
	}
	return fmt.Sprintf("%s: every commit up to v%d, %s before the state's last barrier", j.promise, j.required(n), what)
}

func (j *inmemStateJudge) judge(dir string, n uint64) (int, []StateMismatch, bool, error) {
	req := j.required(n)
	d := j.durability
	if d == inmem.InMemory {
		d = inmem.Strict
	}
	db, err := inmem.Open(dir, &inmem.Options{Durability: d, SegmentSize: j.segmentSize})
	if err != nil {
		return 0, nil, false, fmt.Errorf("recovery: %w", err)
	}
	// The whole history with the state's lower bound: judged as a Buffered
	// power loss whose last sync covered req.
	m := *j.model
	m.syncedAcks = req
	v := m.Judge(db, Promise{Durability: inmem.Buffered, Crash: PowerLoss})
	for i, mm := range v.Mismatches {
		if mm.Entity == "durability" {
			v.Mismatches[i].Expected = j.requiredText(n)
			v.Mismatches[i].Actual = fmt.Sprintf("recovered up to v%d: %d acknowledged commits up to v%d missing",
				v.Recovered, ackedUpTo(j.model, req)-ackedUpTo(j.model, v.Recovered), req)
		}
	}
	ms := v.Mismatches
	last := db.LastVersion()
	probe, err := db.Commit(func(tx *inmem.Tx) error {
		id, err := tx.GetOrCreateRun("crashtest-probe")
		if err != nil {
			return err
		}
		return tx.KVPut(id, "probe", []byte("after recovery"))
	})
	if err != nil || probe != last+1 {
		ms = append(ms, StateMismatch{Entity: "probe", Expected: fmt.Sprintf("the next commit at v%d", last+1), Actual: fmt.Sprintf("v%d, %v", probe, err)})
	}
	if err := db.Close(); err != nil {
		ms = append(ms, StateMismatch{"close", "a clean close after recovery", err.Error()})
	}
	return ackedUpTo(j.model, min(req, last)), ms, false, nil
}

// ackedUpTo counts the acknowledged write operations at or below v.
func ackedUpTo(m *ReferenceModel, v inmem.Version) int {
	n := 0
	for _, op := range m.ops {
		if op.Kind == OpWrite && op.Status == Acked && op.Version != 0 && op.Version <= v {
			n++
		}
	}
	return n
}

// targetStateJudge judges a Target's crash states with the key/value model:
// a power-safe configuration must hold every put acknowledged by the
// state's clock.
type targetStateJudge struct {
	kv  *kvModel
	cfg BarrierConfig
}

func (j *targetStateJudge) acked() int { return j.kv.acked() }

func (j *targetStateJudge) requiredText(n uint64) string {
	if !j.kv.w.PowerSafe {
		return fmt.Sprintf("%s is not power safe: nothing is promised", j.kv.w.Name)
	}
	c := 0
	for _, p := range j.kv.puts {
		if p.status == Acked && p.stamp <= n {
			c++
		}
	}
	return fmt.Sprintf("%s: the %d puts acknowledged before the state's last barrier", j.kv.w.Name, c)
}

func (j *targetStateJudge) judge(dir string, n uint64) (int, []StateMismatch, bool, error) {
	c, err := checkTarget(j.cfg.Binary, j.cfg.Args, j.cfg.Env, j.kv.w.Name, dir, j.kv.keys())
	if err != nil {
		return 0, nil, false, err
	}
	v := j.kv.judge(c, PowerLoss, &n)
	return v.kept, v.violations, len(v.unpromised) > 0, nil
}
