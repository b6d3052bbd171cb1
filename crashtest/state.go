package crashtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/in-mem/inmem"
)

// dbState is a logical image of a database: what the model expects, or what
// a recovered database holds. Runs are keyed by name.
type dbState struct {
	last inmem.Version
	runs map[string]*runState
}

type runState struct {
	// id is the run's id: what the database gives it, or what the model
	// learned from the commit that created it (zero if it never did).
	id        inmem.RunID
	created   inmem.Version
	createdTS int64                  // creation time in µs; zero in the model
	kv        map[string][]kvVersion // full history, oldest first
	events    []eventRec
	cells     map[string]cellRec
	// policy is the retention policy in force; trim the strictest
	// KeepLast n ever set (0: never one), down to which a full compaction
	// may have trimmed every key's history.
	policy string
	trim   int
}

// kvVersion, eventRec and cellRec are what the API shows of a KV version,
// an event and a state cell. ts is the commit time in µs since the epoch:
// what a database shows, zero in the model, which cannot know it.
type kvVersion struct {
	version inmem.Version
	value   []byte
	deleted bool
	ts      int64
}

type eventRec struct {
	seq     uint64
	version inmem.Version
	payload []byte
	ts      int64
}

type cellRec struct {
	version inmem.Version
	value   []byte
	ts      int64
}

func newDBState() *dbState { return &dbState{runs: map[string]*runState{}} }

func (s *dbState) clone() *dbState {
	c := &dbState{last: s.last, runs: make(map[string]*runState, len(s.runs))}
	for name, r := range s.runs {
		nr := &runState{id: r.id, created: r.created, createdTS: r.createdTS, kv: make(map[string][]kvVersion, len(r.kv)),
			events: slices.Clone(r.events), cells: maps.Clone(r.cells), policy: r.policy, trim: r.trim}
		for k, h := range r.kv {
			nr.kv[k] = slices.Clone(h)
		}
		c.runs[name] = nr
	}
	return c
}

func (s *dbState) run(name string, v inmem.Version) *runState {
	r := s.runs[name]
	if r == nil {
		r = &runState{created: v, kv: map[string][]kvVersion{}, cells: map[string]cellRec{}, policy: inmem.KeepAll().String()}
		s.runs[name] = r
	}
	return r
}

// apply applies a committed write operation at its version and returns the
// sequence numbers its appends took. The outcome of every write (a CAS that
// matched, a delete of a present key) is already known: only committed
// operations are applied.
func (s *dbState) apply(op *Op) []uint64 {
	v := op.Version
	var seqs []uint64
	for _, w := range op.Writes {
		if w.Value == nil && w.Kind != WriteKVDelete {
			w.Value = []byte{} // what the database stores for a nil value
		}
		r := s.run(w.Run, v)
		if r.id == (inmem.RunID{}) {
			r.id = op.runIDs[w.Run]
		}
		switch w.Kind {
		case WriteKVPut:
			r.setKV(w.Key, kvVersion{version: v, value: w.Value})
		case WriteKVDelete:
			r.setKV(w.Key, kvVersion{version: v, deleted: true})
		case WriteEventAppend:
			seqs = append(seqs, uint64(len(r.events)))
			r.events = append(r.events, eventRec{seq: uint64(len(r.events)), version: v, payload: w.Value})
		case WriteStateSet, WriteStateCAS:
			r.cells[w.Key] = cellRec{version: v, value: w.Value}
		case WriteRetention:
			r.setPolicy(w)
		}
	}
	s.last = max(s.last, v)
	return seqs
}

func (r *runState) setPolicy(w Write) {
	r.policy = w.policy().String()
	if w.Keep > 0 && (r.trim == 0 || w.Keep < r.trim) {
		r.trim = w.Keep
	}
}

// compact trims every key's history to its run's KeepLast policy, as a full
// compaction does.
func (s *dbState) compact() {
	for _, r := range s.runs {
		n, _ := r.keepLast()
		for k, h := range r.kv {
			if n > 0 && len(h) > n {
				r.kv[k] = slices.Clone(h[len(h)-n:])
			}
		}
	}
}

// keepLast returns the n of the run's KeepLast policy (0 for KeepAll), and
// false for a policy the model cannot apply (KeepFor, which depends on the
// time of the compaction).
func (r *runState) keepLast() (int, bool) {
	if r.policy == inmem.KeepAll().String() {
		return 0, true
	}
	var n int
	_, err := fmt.Sscanf(r.policy, "keep-last(%d)", &n)
	return n, err == nil
}

// compactable reports whether compact knows what a full compaction does to
// every run.
func (s *dbState) compactable() bool {
	for _, r := range s.runs {
		if _, ok := r.keepLast(); !ok {
			return false
		}
	}
	return true
}

// setKV adds a version of key; a key written twice by one transaction keeps
// only the last write, as the engine does.
func (r *runState) setKV(key string, x kvVersion) {
	h := r.kv[key]
	if n := len(h); n > 0 && h[n-1].version == x.version {
		h[n-1] = x
		return
	}
	r.kv[key] = append(h, x)
}

// kvLive reports whether key exists (its newest version is not a deletion).
func (r *runState) kvLive(key string) bool {
	h := r.kv[key]
	return len(h) > 0 && !h[len(h)-1].deleted
}

// captureDB reads the whole logical state of db through its public API.
func captureDB(db *inmem.DB) (*dbState, error) {
	s := newDBState()
	s.last = db.LastVersion()
	runs, err := db.ListRuns()
	if err != nil {
		return nil, err
	}
	for _, ri := range runs {
		r := s.run(ri.Name, ri.Version)
		r.id, r.createdTS = ri.ID, ri.Created.UnixMicro()
		if err := captureRun(db, ri.ID, r); err != nil {
			return nil, fmt.Errorf("run %q: %w", ri.Name, err)
		}
	}
	return s, nil
}

func captureRun(db *inmem.DB, id inmem.RunID, r *runState) error {
	keys, err := db.KVKeys(id, "")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := captureKey(db, id, r, k); err != nil {
			return err
		}
	}
	if err := captureEvents(db, id, r); err != nil {
		return err
	}
	p, err := db.GetRetentionPolicy(id)
	if err != nil {
		return err
	}
	r.policy = p.String()
	cells, err := db.StateCells(id)
	if err != nil {
		return err
	}
	for _, c := range cells {
		v, err := db.StateGet(id, c)
		if err != nil {
			return err
		}
		r.cells[c] = cellRec{version: v.Version, value: v.Value, ts: v.Timestamp.UnixMicro()}
	}
	return nil
}

// captureKey reads key's history, if the database has one.
func captureKey(db *inmem.DB, id inmem.RunID, r *runState, key string) error {
	h, err := db.KVHistory(id, key)
	if errors.Is(err, inmem.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, v := range h {
		r.kv[key] = append(r.kv[key], kvVersion{version: v.Version, value: v.Value, deleted: v.Value == nil, ts: v.Timestamp.UnixMicro()})
	}
	return nil
}

func captureEvents(db *inmem.DB, id inmem.RunID, r *runState) error {
	n, err := db.EventCount(id)
	if err != nil {
		return err
	}
	evs, err := db.EventRange(id, 0, n)
	if err != nil {
		return err
	}
	for _, e := range evs {
		r.events = append(r.events, eventRec{seq: e.Seq, version: e.Version, payload: e.Payload, ts: e.Timestamp.UnixMicro()})
	}
	return nil
}

// captureKeys reads the history of keys the model knows but the database
// does not list as live (deleted keys keep their history).
func captureKeys(db *inmem.DB, s *dbState, want *dbState) error {
	for name, wr := range want.runs {
		r := s.runs[name]
		if r == nil {
			continue
		}
		for k := range wr.kv {
			if _, ok := r.kv[k]; ok {
				continue
			}
			if err := captureKey(db, r.id, r, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// StateMismatch is one difference between the model and the database.
type StateMismatch struct {
	Entity   string // what differs: "run:R", "kv:R/K", "event:R#3", "cell:R/C", "version", "durability"
	Expected string
	Actual   string
}

func (m StateMismatch) String() string {
	return fmt.Sprintf("%s: expected %s, got %s", m.Entity, m.Expected, m.Actual)
}

// comparison says what diff compares besides the data.
type comparison struct {
	// stamps: run ids and commit timestamps too, as between two images of
	// one database. A model knows no timestamps, and ids only where it
	// learned them: those it compares.
	stamps bool
	// trimmed: a key's history may have been cut down to the newest
	// versions its run's strictest KeepLast keeps, by a full compaction
	// the model cannot place in the history.
	trimmed bool
}

// diff compares want with got in both directions.
func diff(want, got *dbState, c comparison) []StateMismatch {
	var out []StateMismatch
	for _, name := range sortedKeys(want.runs, got.runs) {
		wr, gr := want.runs[name], got.runs[name]
		switch {
		case gr == nil:
			out = append(out, StateMismatch{"run:" + name, fmt.Sprintf("created at v%d", wr.created), "missing"})
		case wr == nil:
			out = append(out, StateMismatch{"run:" + name, "absent", fmt.Sprintf("created at v%d", gr.created)})
		default:
			out = append(out, c.diffRun(name, wr, gr)...)
		}
	}
	return out
}

func (c comparison) diffRun(name string, wr, gr *runState) []StateMismatch {
	var out []StateMismatch
	add := func(entity, exp, act string) { out = append(out, StateMismatch{entity, exp, act}) }
	ids := c.stamps || wr.id != (inmem.RunID{})
	if w, g := c.fmtRun(wr, ids), c.fmtRun(gr, ids); w != g {
		add("run:"+name, w, g)
	}
	if wr.policy != gr.policy {
		add("retention:"+name, wr.policy, gr.policy)
	}
	trim := 0
	if c.trimmed {
		trim = wr.trim
	}
	for _, k := range sortedKeys(wr.kv, gr.kv) {
		if !c.retained(wr.kv[k], gr.kv[k], trim) {
			exp := c.fmtHistory(wr.kv[k])
			if trim > 0 {
				exp += fmt.Sprintf(" (or its newest %d or more, trimmed by retention)", min(trim, len(wr.kv[k])))
			}
			add(fmt.Sprintf("kv:%s/%s", name, k), exp, c.fmtHistory(gr.kv[k]))
		}
	}
	if !c.sameEvents(wr.events, gr.events) {
		out = append(out, c.diffEvents(name, wr.events, gr.events)...)
	}
	if !c.sameCells(wr.cells, gr.cells) {
		out = append(out, c.diffCells(name, wr.cells, gr.cells)...)
	}
	return out
}

func (c comparison) diffEvents(name string, want, got []eventRec) []StateMismatch {
	var out []StateMismatch
	for i := 0; i < max(len(want), len(got)); i++ {
		w, g := "absent", "absent"
		if i < len(want) {
			w = c.fmtEvent(want[i])
		}
		if i < len(got) {
			g = c.fmtEvent(got[i])
		}
		if w != g {
			out = append(out, StateMismatch{fmt.Sprintf("event:%s#%d", name, i), w, g})
		}
	}
	return out
}

func (c comparison) diffCells(name string, want, got map[string]cellRec) []StateMismatch {
	var out []StateMismatch
	for _, cell := range sortedKeys(want, got) {
		w, g := "absent", "absent"
		if x, ok := want[cell]; ok {
			w = c.fmtCell(x)
		}
		if x, ok := got[cell]; ok {
			g = c.fmtCell(x)
		}
		if w != g {
			out = append(out, StateMismatch{fmt.Sprintf("cell:%s/%s", name, cell), w, g})
		}
	}
	return out
}

func (c comparison) fmtRun(r *runState, id bool) string {
	s := fmt.Sprintf("created at v%d", r.created)
	if id {
		s += " with id " + r.id.String()
	}
	return s + c.fmtTS(r.createdTS)
}

func (c comparison) fmtTS(ts int64) string {
	if !c.stamps {
		return ""
	}
	return fmt.Sprintf(" at %dµs", ts)
}

func (c comparison) fmtHistory(h []kvVersion) string {
	if len(h) == 0 {
		return "absent"
	}
	parts := make([]string, len(h))
	for i, v := range h {
		if v.deleted {
			parts[i] = fmt.Sprintf("v%d <deleted>", v.version)
		} else {
			parts[i] = fmt.Sprintf("v%d %s", v.version, short(v.value))
		}
		parts[i] += c.fmtTS(v.ts)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (c comparison) fmtEvent(e eventRec) string {
	return fmt.Sprintf("seq %d v%d %s", e.seq, e.version, short(e.payload)) + c.fmtTS(e.ts)
}

func (c comparison) fmtCell(x cellRec) string {
	return fmt.Sprintf("v%d %s", x.version, short(x.value)) + c.fmtTS(x.ts)
}

func sortedKeys[V any](a, b map[string]V) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return slices.Sorted(maps.Keys(keys))
}

// retained reports whether got is want, or, for a run whose retention may
// have trimmed it (trim > 0), the newest trim or more versions of it.
func (c comparison) retained(want, got []kvVersion, trim int) bool {
	if trim == 0 || len(got) >= len(want) {
		return c.sameHistory(want, got)
	}
	return len(got) >= min(trim, len(want)) && c.sameHistory(want[len(want)-len(got):], got)
}

func (c comparison) sameHistory(a, b []kvVersion) bool {
	return slices.EqualFunc(a, b, func(x, y kvVersion) bool {
		return x.version == y.version && x.deleted == y.deleted && sameBytes(x.value, y.value) && c.sameTS(x.ts, y.ts)
	})
}

func (c comparison) sameEvents(a, b []eventRec) bool {
	return slices.EqualFunc(a, b, func(x, y eventRec) bool {
		return x.seq == y.seq && x.version == y.version && sameBytes(x.payload, y.payload) && c.sameTS(x.ts, y.ts)
	})
}

func (c comparison) sameCells(a, b map[string]cellRec) bool {
	return maps.EqualFunc(a, b, func(x, y cellRec) bool {
		return x.version == y.version && sameBytes(x.value, y.value) && c.sameTS(x.ts, y.ts)
	})
}

func (c comparison) sameTS(a, b int64) bool { return !c.stamps || a == b }

// sameBytes compares values exactly: a nil value (a deletion) differs from
// an empty one.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// WriteMismatches writes the first ten mismatches to b, one indented line
// each, and how many more there are: the body of every violation's text.
func WriteMismatches(b *strings.Builder, ms []StateMismatch) {
	for i, m := range ms {
		if i == 10 {
			fmt.Fprintf(b, "  ... %d more\n", len(ms)-i)
			return
		}
		fmt.Fprintf(b, "  %s\n", m)
	}
}

// WriteFates writes what a crash policy did with the first twelve
// unsynced changes (vfs.Fate values, or their text), one indented line
// each, and how many more there were.
func WriteFates[F any](b *strings.Builder, fates []F) {
	for i, f := range fates {
		if i == 12 {
			fmt.Fprintf(b, "  ... %d more unsynced changes\n", len(fates)-i)
			return
		}
		fmt.Fprintf(b, "  unsynced: %v\n", f)
	}
}
