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
	created inmem.Version
	kv      map[string][]kvVersion // full history, oldest first
	events  []eventRec
	cells   map[string]cellRec
	// policy is the retention policy in force; trim the strictest
	// KeepLast n ever set (0: never one), down to which a full compaction
	// may have trimmed every key's history.
	policy string
	trim   int
}

type kvVersion struct {
	version inmem.Version
	value   []byte
	deleted bool
}

type eventRec struct {
	seq     uint64
	version inmem.Version
	payload []byte
}

type cellRec struct {
	version inmem.Version
	value   []byte
}

func newDBState() *dbState { return &dbState{runs: map[string]*runState{}} }

func (s *dbState) clone() *dbState {
	c := &dbState{last: s.last, runs: make(map[string]*runState, len(s.runs))}
	for name, r := range s.runs {
		nr := &runState{created: r.created, kv: make(map[string][]kvVersion, len(r.kv)),
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

// apply applies a committed write operation at its version. The outcome of
// every write (a CAS that matched, a delete of a present key) is already
// known: only committed operations are applied.
func (s *dbState) apply(op *Op) {
	v := op.Version
	for _, w := range op.Writes {
		if w.Value == nil && w.Kind != WriteKVDelete {
			w.Value = []byte{} // what the database stores for a nil value
		}
		r := s.run(w.Run, v)
		switch w.Kind {
		case WriteKVPut:
			r.setKV(w.Key, kvVersion{version: v, value: w.Value})
		case WriteKVDelete:
			r.setKV(w.Key, kvVersion{version: v, deleted: true})
		case WriteEventAppend:
			r.events = append(r.events, eventRec{seq: uint64(len(r.events)), version: v, payload: w.Value})
		case WriteStateSet, WriteStateCAS:
			r.cells[w.Key] = cellRec{version: v, value: w.Value}
		case WriteRetention:
			r.policy = w.policy().String()
			if w.Keep > 0 && (r.trim == 0 || w.Keep < r.trim) {
				r.trim = w.Keep
			}
		}
	}
	s.last = max(s.last, v)
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
		h, err := db.KVHistory(id, k)
		if err != nil {
			return err
		}
		for _, v := range h {
			r.kv[k] = append(r.kv[k], kvVersion{version: v.Version, value: v.Value, deleted: v.Value == nil})
		}
	}
	n, err := db.EventCount(id)
	if err != nil {
		return err
	}
	evs, err := db.EventRange(id, 0, n)
	if err != nil {
		return err
	}
	for _, e := range evs {
		r.events = append(r.events, eventRec{seq: e.Seq, version: e.Version, payload: e.Payload})
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
		r.cells[c] = cellRec{version: v.Version, value: v.Value}
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
		id, err := db.ResolveRun(name)
		if err != nil {
			return err
		}
		for k := range wr.kv {
			if _, ok := r.kv[k]; ok {
				continue
			}
			h, err := db.KVHistory(id, k)
			if errors.Is(err, inmem.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			for _, v := range h {
				r.kv[k] = append(r.kv[k], kvVersion{version: v.Version, value: v.Value, deleted: v.Value == nil})
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

// diff compares want with got in both directions.
func diff(want, got *dbState) []StateMismatch {
	var out []StateMismatch
	add := func(entity, exp, act string) { out = append(out, StateMismatch{entity, exp, act}) }
	for _, name := range sortedKeys(want.runs, got.runs) {
		wr, gr := want.runs[name], got.runs[name]
		switch {
		case gr == nil:
			add("run:"+name, fmt.Sprintf("created at v%d", wr.created), "missing")
			continue
		case wr == nil:
			add("run:"+name, "absent", fmt.Sprintf("created at v%d", gr.created))
			continue
		case wr.created != gr.created:
			add("run:"+name, fmt.Sprintf("created at v%d", wr.created), fmt.Sprintf("created at v%d", gr.created))
		}
		out = append(out, diffRun(name, wr, gr)...)
	}
	return out
}

func diffRun(name string, wr, gr *runState) []StateMismatch {
	var out []StateMismatch
	add := func(entity, exp, act string) { out = append(out, StateMismatch{entity, exp, act}) }
	if wr.policy != gr.policy {
		add("retention:"+name, wr.policy, gr.policy)
	}
	for _, k := range sortedKeys(wr.kv, gr.kv) {
		if !retained(wr.kv[k], gr.kv[k], wr.trim) {
			exp := fmtHistory(wr.kv[k])
			if wr.trim > 0 {
				exp += fmt.Sprintf(" (or its newest %d or more, trimmed by retention)", min(wr.trim, len(wr.kv[k])))
			}
			add(fmt.Sprintf("kv:%s/%s", name, k), exp, fmtHistory(gr.kv[k]))
		}
	}
	if sameEvents(wr.events, gr.events) && sameCells(wr.cells, gr.cells) {
		return out
	}
	for i := 0; i < max(len(wr.events), len(gr.events)); i++ {
		w, g := "absent", "absent"
		if i < len(wr.events) {
			w = fmtEvent(wr.events[i])
		}
		if i < len(gr.events) {
			g = fmtEvent(gr.events[i])
		}
		if w != g {
			add(fmt.Sprintf("event:%s#%d", name, i), w, g)
		}
	}
	for _, c := range sortedKeys(wr.cells, gr.cells) {
		w, g := "absent", "absent"
		if x, ok := wr.cells[c]; ok {
			w = fmt.Sprintf("v%d %s", x.version, short(x.value))
		}
		if x, ok := gr.cells[c]; ok {
			g = fmt.Sprintf("v%d %s", x.version, short(x.value))
		}
		if w != g {
			add(fmt.Sprintf("cell:%s/%s", name, c), w, g)
		}
	}
	return out
}

func fmtHistory(h []kvVersion) string {
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
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func fmtEvent(e eventRec) string {
	return fmt.Sprintf("seq %d v%d %s", e.seq, e.version, short(e.payload))
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
func retained(want, got []kvVersion, trim int) bool {
	if trim == 0 || len(got) >= len(want) {
		return sameHistory(want, got)
	}
	return len(got) >= min(trim, len(want)) && sameHistory(want[len(want)-len(got):], got)
}

func sameHistory(a, b []kvVersion) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].version != b[i].version || a[i].deleted != b[i].deleted || !sameBytes(a[i].value, b[i].value) {
			return false
		}
	}
	return true
}

func sameEvents(a, b []eventRec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].seq != b[i].seq || a[i].version != b[i].version || !sameBytes(a[i].payload, b[i].payload) {
			return false
		}
	}
	return true
}

func sameCells(a, b map[string]cellRec) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.version != y.version || !sameBytes(x.value, y.value) {
			return false
		}
	}
	return true
}

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
