package inmem_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/in-mem/inmem"
)

// The reference model: a plain map of what every acknowledged commit did,
// replayed in version order. Tests compare it with what the API shows.

type mutKind uint8

const (
	mCreateRun mutKind = iota
	mPut
	mDel
	mEvent
	mCell
	mRetention
)

// mut is one write of an acknowledged commit.
type mut struct {
	kind   mutKind
	run    string // run name
	id     inmem.RunID
	key    string // KV key or cell name
	value  string // value, payload, or policy string for mRetention
	seq    uint64 // mEvent: the sequence number the commit returned
	keep   int    // mRetention: KeepLast's n, 0 for KeepAll
	cas    bool   // mCell: a StateCAS expecting version expect
	expect inmem.Version
}

// rec is one acknowledged commit.
type rec struct {
	v    inmem.Version
	muts []mut
}

// model is the expected state: what the acknowledged commits, applied in
// version order, add up to.
type model struct {
	runs map[string]*runState
	keep map[string]int             // KeepLast n per run, 0: keep all
	keys map[string]map[string]bool // every key ever written, per run
	last inmem.Version
}

func newModel() *model {
	return &model{runs: map[string]*runState{}, keep: map[string]int{}, keys: map[string]map[string]bool{}}
}

// apply adds one commit. It fails if the commit does not fit: a version
// that does not increase, an event number out of sequence, a CAS against
// the wrong version.
func (m *model) apply(r rec) error {
	if r.v <= m.last {
		return fmt.Errorf("commit version %d is not above %d", r.v, m.last)
	}
	m.last = r.v
	for _, u := range r.muts {
		if err := m.applyOne(r.v, u); err != nil {
			return fmt.Errorf("version %d: %w", r.v, err)
		}
	}
	return nil
}

func (m *model) applyOne(v inmem.Version, u mut) error {
	if u.kind == mCreateRun {
		if m.runs[u.run] != nil {
			return fmt.Errorf("run %q created twice", u.run)
		}
		m.runs[u.run] = newRunState(u.run, u.id, v)
		m.keys[u.run] = map[string]bool{}
		return nil
	}
	r := m.runs[u.run]
	if r == nil {
		return fmt.Errorf("write to unknown run %q", u.run)
	}
	switch u.kind {
	case mPut, mDel:
		m.keys[u.run][u.key] = true
		r.KV[u.key] = setVersion(r.KV[u.key], ver{Value: u.value, Deleted: u.kind == mDel, Version: v})
	case mEvent:
		if u.seq != uint64(len(r.Events)) {
			return fmt.Errorf("run %q: event got sequence %d, %d is next", u.run, u.seq, len(r.Events))
		}
		r.Events = append(r.Events, ev{Seq: u.seq, Payload: u.value, Version: v})
	case mCell:
		if cur := r.Cells[u.key].Version; u.cas && cur != u.expect && cur != v {
			return fmt.Errorf("run %q cell %q: CAS expected version %d, cell is at %d", u.run, u.key, u.expect, cur)
		}
		r.Cells[u.key] = ver{Value: u.value, Version: v}
	case mRetention:
		r.Retention = u.value
		m.keep[u.run] = u.keep
	}
	return nil
}

// setVersion adds x to a history: a commit writes a key once, its last
// write in the commit winning.
func setVersion(h []ver, x ver) []ver {
	if n := len(h); n > 0 && h[n-1].Version == x.Version {
		h[n-1] = x
		return h
	}
	return append(h, x)
}

// trim applies every run's KeepLast policy, as CompactFull does.
func (m *model) trim() {
	for name, n := range m.keep {
		if n == 0 {
			continue
		}
		for k, h := range m.runs[name].KV {
			if len(h) > n {
				m.runs[name].KV[k] = slices.Clone(h[len(h)-n:])
			}
		}
	}
}

// state returns the model as the API would show it, without timestamps.
func (m *model) state() dbState {
	s := dbState{Last: m.last}
	for _, name := range slices.Sorted(maps.Keys(m.runs)) {
		r := *m.runs[name]
		r.KV = map[string][]ver{}
		for k, h := range m.runs[name].KV {
			r.KV[k] = slices.Clone(h)
		}
		r.Events = slices.Clone(r.Events)
		r.Cells = maps.Clone(r.Cells)
		s.Runs = append(s.Runs, r)
	}
	return s
}

// extra lists every key ever written, per run, for dump.
func (m *model) extra() map[string][]string {
	out := map[string][]string{}
	for run, ks := range m.keys {
		out[run] = slices.Sorted(maps.Keys(ks))
	}
	return out
}

// modelOf replays recs in version order, up to and including version upTo.
func modelOf(recs []rec, upTo inmem.Version) (*model, error) {
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b rec) int { return int(a.v) - int(b.v) })
	m := newModel()
	for _, r := range sorted {
		if r.v > upTo {
			break
		}
		if err := m.apply(r); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// checkModel fails the test if db's state differs from m's.
func checkModel(t tb, db *inmem.DB, m *model, what string) {
	t.Helper()
	got := dump(t, db, m.extra())
	checkInvariants(t, got)
	if d := diffStates(m.state(), got.noTS()); d != "" {
		t.Fatalf("%s: state differs from the model:\n%s", what, d)
	}
}

var errAbort = errors.New("test: transaction aborted on purpose")

// gen is a seeded random workload over the public API. It owns the runs it
// creates (their names start with its name), so several gens can write
// concurrently; each keeps a model of its own runs to choose valid ops.
type gen struct {
	rng       *rand.Rand
	name      string
	m         *model
	runs      []string
	n         int
	retention bool // also set retention policies
	maxKeys   int
	valueSize int // extra value bytes beyond the unique prefix
}

func newGen(seed uint64, name string) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, 0x6d6f64656c)), name: name, m: newModel(), maxKeys: 20}
}

func (g *gen) value(kind string) string {
	g.n++
	v := fmt.Sprintf("%s/%s/op%d", g.name, kind, g.n)
	if g.valueSize > 0 {
		v += "/" + strings.Repeat(".", g.rng.IntN(g.valueSize+1))
	}
	return v
}

// reset rewinds the gen to m, a prefix of its history (what a recovery
// kept).
func (g *gen) reset(m *model) {
	g.m = m
	g.runs = g.runs[:0]
	for _, r := range m.state().Runs {
		if strings.HasPrefix(r.Name, g.name+"-run") {
			g.runs = append(g.runs, r.Name)
		}
	}
	slices.SortFunc(g.runs, func(a, b string) int { return int(m.runs[a].Version) - int(m.runs[b].Version) })
}

func (g *gen) pickRun() string { return g.runs[g.rng.IntN(len(g.runs))] }

func (g *gen) id(run string) inmem.RunID { return g.m.runs[run].ID }

func (g *gen) pickKey(run string) string {
	return fmt.Sprintf("k%03d", g.rng.IntN(g.maxKeys))
}

// liveKey returns a key whose newest version is not a deletion, if any.
func (g *gen) liveKey(run string) (string, bool) {
	var live []string
	for k, h := range g.m.runs[run].KV {
		if !h[len(h)-1].Deleted {
			live = append(live, k)
		}
	}
	if len(live) == 0 {
		return "", false
	}
	slices.Sort(live)
	return live[g.rng.IntN(len(live))], true
}

// step runs one random operation. It returns the commit if one was
// acknowledged. Expected refusals (a CAS mismatch, deleting a missing key,
// an aborted transaction) are checked here and return ok false.
func (g *gen) step(db *inmem.DB) (r rec, ok bool, err error) {
	if len(g.runs) == 0 || g.rng.IntN(40) == 0 {
		return g.createRun(db)
	}
	run := g.pickRun()
	switch x := g.rng.IntN(100); {
	case x < 35:
		return g.put(db, run)
	case x < 45:
		return g.del(db, run)
	case x < 60:
		return g.event(db, run)
	case x < 70:
		return g.cellSet(db, run)
	case x < 80:
		return g.cellCAS(db, run)
	case x < 93:
		return g.multi(db)
	case x < 96 && g.retention:
		return g.setRetention(db, run)
	default:
		return g.abort(db, run)
	}
}

// run applies a step's commit to the gen's own model.
func (g *gen) done(r rec, ok bool, err error) (rec, bool, error) {
	if err != nil || !ok {
		return r, ok, err
	}
	if aerr := g.m.apply(r); aerr != nil {
		return r, false, fmt.Errorf("model: %w", aerr)
	}
	return r, true, nil
}

func (g *gen) createRun(db *inmem.DB) (rec, bool, error) {
	name := fmt.Sprintf("%s-run%d", g.name, len(g.runs))
	var id inmem.RunID
	v, err := db.Commit(func(tx *inmem.Tx) (err error) {
		id, err = tx.CreateRun(name)
		return err
	})
	if err != nil {
		return rec{}, false, fmt.Errorf("create run %q: %w", name, err)
	}
	g.runs = append(g.runs, name)
	return g.done(rec{v: v, muts: []mut{{kind: mCreateRun, run: name, id: id}}}, true, nil)
}

func (g *gen) put(db *inmem.DB, run string) (rec, bool, error) {
	key, val := g.pickKey(run), g.value("kv")
	v, err := db.KVPut(g.id(run), key, []byte(val))
	if err != nil {
		return rec{}, false, fmt.Errorf("put %s/%s: %w", run, key, err)
	}
	return g.done(rec{v: v, muts: []mut{{kind: mPut, run: run, key: key, value: val}}}, true, nil)
}

func (g *gen) del(db *inmem.DB, run string) (rec, bool, error) {
	key, live := g.liveKey(run)
	if !live {
		key = fmt.Sprintf("missing-%d", g.rng.IntN(5))
	}
	v, err := db.Commit(func(tx *inmem.Tx) error { return tx.KVDelete(g.id(run), key) })
	if !live {
		if !errors.Is(err, inmem.ErrNotFound) || v != 0 {
			return rec{}, false, fmt.Errorf("delete of missing key %s/%s: got version %d, err %v; want ErrNotFound", run, key, v, err)
		}
		return rec{}, false, nil
	}
	if err != nil {
		return rec{}, false, fmt.Errorf("delete %s/%s: %w", run, key, err)
	}
	return g.done(rec{v: v, muts: []mut{{kind: mDel, run: run, key: key}}}, true, nil)
}

func (g *gen) event(db *inmem.DB, run string) (rec, bool, error) {
	payload := g.value("ev")
	var seq uint64
	v, err := db.Commit(func(tx *inmem.Tx) (err error) {
		seq, err = tx.EventAppend(g.id(run), []byte(payload))
		return err
	})
	if err != nil {
		return rec{}, false, fmt.Errorf("event %s: %w", run, err)
	}
	return g.done(rec{v: v, muts: []mut{{kind: mEvent, run: run, value: payload, seq: seq}}}, true, nil)
}

func (g *gen) cellName() string { return fmt.Sprintf("c%d", g.rng.IntN(5)) }

func (g *gen) cellSet(db *inmem.DB, run string) (rec, bool, error) {
	cell, val := g.cellName(), g.value("cell")
	v, err := db.StateSet(g.id(run), cell, []byte(val))
	if err != nil {
		return rec{}, false, fmt.Errorf("set %s/%s: %w", run, cell, err)
	}
	return g.done(rec{v: v, muts: []mut{{kind: mCell, run: run, key: cell, value: val}}}, true, nil)
}

func (g *gen) cellCAS(db *inmem.DB, run string) (rec, bool, error) {
	cell, val := g.cellName(), g.value("cas")
	cur := g.m.runs[run].Cells[cell].Version
	expect := cur
	wrong := g.rng.IntN(5) == 0
	if wrong {
		expect = cur + 1 + inmem.Version(g.rng.IntN(3))
	}
	v, err := db.StateCAS(g.id(run), cell, expect, []byte(val))
	if wrong {
		var vm *inmem.VersionMismatchError
		if !errors.As(err, &vm) || !errors.Is(err, inmem.ErrVersionMismatch) || vm.Actual != cur || vm.Expected != expect || v != 0 {
			return rec{}, false, fmt.Errorf("CAS %s/%s expecting %d (cell at %d): got version %d, err %v", run, cell, expect, cur, v, err)
		}
		return rec{}, false, nil
	}
	if err != nil {
		return rec{}, false, fmt.Errorf("CAS %s/%s: %w", run, cell, err)
	}
	return g.done(rec{v: v, muts: []mut{{kind: mCell, run: run, key: cell, value: val, cas: true, expect: expect}}}, true, nil)
}

// multi commits 2 to 6 writes over up to two runs in one transaction,
// sometimes writing a key twice or deleting a key it just wrote.
func (g *gen) multi(db *inmem.DB) (rec, bool, error) {
	var muts []mut
	v, err := db.Commit(func(tx *inmem.Tx) error {
		muts = muts[:0]
		live := map[string]map[string]bool{}
		for range 2 + g.rng.IntN(5) {
			run := g.pickRun()
			id := g.id(run)
			if live[run] == nil {
				live[run] = map[string]bool{}
				for k, h := range g.m.runs[run].KV {
					live[run][k] = !h[len(h)-1].Deleted
				}
			}
			switch g.rng.IntN(4) {
			case 0:
				key, val := g.pickKey(run), g.value("tx-kv")
				if err := tx.KVPut(id, key, []byte(val)); err != nil {
					return err
				}
				live[run][key] = true
				muts = append(muts, mut{kind: mPut, run: run, key: key, value: val})
			case 1:
				key := g.pickKey(run)
				err := tx.KVDelete(id, key)
				if !live[run][key] {
					if !errors.Is(err, inmem.ErrNotFound) {
						return fmt.Errorf("tx delete of missing key %s/%s: %v, want ErrNotFound", run, key, err)
					}
					continue
				}
				if err != nil {
					return err
				}
				live[run][key] = false
				muts = append(muts, mut{kind: mDel, run: run, key: key})
			case 2:
				payload := g.value("tx-ev")
				seq, err := tx.EventAppend(id, []byte(payload))
				if err != nil {
					return err
				}
				muts = append(muts, mut{kind: mEvent, run: run, value: payload, seq: seq})
			default:
				cell, val := g.cellName(), g.value("tx-cell")
				if err := tx.StateSet(id, cell, []byte(val)); err != nil {
					return err
				}
				muts = append(muts, mut{kind: mCell, run: run, key: cell, value: val})
			}
		}
		return nil
	})
	if err != nil {
		return rec{}, false, fmt.Errorf("transaction: %w", err)
	}
	if len(muts) == 0 {
		return rec{}, false, nil
	}
	return g.done(rec{v: v, muts: muts}, true, nil)
}

func (g *gen) setRetention(db *inmem.DB, run string) (rec, bool, error) {
	p, n := inmem.KeepAll(), 0
	if g.rng.IntN(3) > 0 {
		n = 1 + g.rng.IntN(3)
		p = inmem.KeepLast(n)
	}
	v, err := db.SetRetentionPolicy(g.id(run), p)
	if err != nil {
		return rec{}, false, fmt.Errorf("retention %s: %w", run, err)
	}
	return g.done(rec{v: v, muts: []mut{{kind: mRetention, run: run, value: p.String(), keep: n}}}, true, nil)
}

// abort writes in a transaction whose function fails: nothing may change.
func (g *gen) abort(db *inmem.DB, run string) (rec, bool, error) {
	key := g.value("aborted")
	v, err := db.Commit(func(tx *inmem.Tx) error {
		if err := tx.KVPut(g.id(run), key, []byte("never")); err != nil {
			return err
		}
		if _, err := tx.EventAppend(g.id(run), []byte("never")); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) || v != 0 {
		return rec{}, false, fmt.Errorf("aborted transaction: got version %d, err %v; want errAbort", v, err)
	}
	if _, err := db.KVGet(g.id(run), key); !errors.Is(err, inmem.ErrNotFound) {
		return rec{}, false, fmt.Errorf("aborted transaction's key %q: %v, want ErrNotFound", key, err)
	}
	return rec{}, false, nil
}

// runGen runs n steps of g against db, failing the test on any unexpected
// outcome, and returns the acknowledged commits.
func runGen(t tb, g *gen, db *inmem.DB, n int) []rec {
	t.Helper()
	var recs []rec
	for i := range n {
		r, ok, err := g.step(db)
		if err != nil {
			t.Fatalf("%s step %d: %v", g.name, i, err)
		}
		if ok {
			recs = append(recs, r)
		}
	}
	return recs
}
