package inmem_test

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// seedFlag fixes the seed of every randomized test; 0 picks a new one.
var seedFlag = flag.Uint64("inmem.seed", 0, "seed for randomized tests (0: derive one from the clock)")

// testSeed returns the seed of a randomized test, logs it, and on failure
// prints the command that reruns the test with it.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce: go test -race -run '%s' -inmem.seed=%d .", runPattern(t.Name()), seed)
		}
	})
	return seed
}

// runPattern turns a (sub)test name into a -run pattern matching only it.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

const testDir = "db"

// tb is the part of testing.TB the checking helpers need; *rapid.T has it
// too.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// openMem opens (creating) testDir on fsys, failing the test on error.
func openMem(t tb, fsys vfs.FS, opts *inmem.Options) *inmem.DB {
	t.Helper()
	o := inmem.Options{}
	if opts != nil {
		o = *opts
	}
	o.FS = fsys
	db, err := inmem.Open(testDir, &o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// newTestDB opens a database on a fresh MemFS and registers a consistency
// check: at cleanup, if the database is still open and healthy, its
// observable state must survive Close and reopen exactly, and its versions
// and timestamps must be ordered.
func newTestDB(t testing.TB, opts *inmem.Options) (*inmem.DB, *vfs.MemFS) {
	t.Helper()
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	t.Cleanup(func() { checkReopen(t, db, mem, opts) })
	return db, mem
}

// checkReopen is newTestDB's cleanup check.
func checkReopen(t testing.TB, db *inmem.DB, fsys vfs.FS, opts *inmem.Options) {
	t.Helper()
	if _, err := db.ListRuns(); err != nil || db.Err() != nil {
		return // closed or failed: the test checked what it wanted
	}
	before := dump(t, db, nil)
	checkInvariants(t, before)
	if err := db.Close(); err != nil {
		t.Errorf("cleanup: Close: %v", err)
		return
	}
	if opts != nil && opts.Durability == inmem.InMemory {
		return
	}
	db2 := openMem(t, fsys, opts)
	defer db2.Close()
	if d := diffStates(before, dump(t, db2, nil)); d != "" {
		t.Errorf("cleanup: state changed across Close and reopen:\n%s", d)
	}
}

// ver is one version of a KV key or state cell as a test sees it.
type ver struct {
	Value   string
	Deleted bool
	Version inmem.Version
	TS      int64
}

// ev is one event as a test sees it.
type ev struct {
	Seq     uint64
	Payload string
	Version inmem.Version
	TS      int64
}

// runState is everything the API shows of a run.
type runState struct {
	ID        inmem.RunID
	Name      string
	Version   inmem.Version
	Created   int64
	KV        map[string][]ver // full retained history per key
	Events    []ev
	Cells     map[string]ver
	Retention string
}

// dbState is everything the API shows of a database.
type dbState struct {
	Last inmem.Version
	Runs []runState // by name
}

func newRunState(name string, id inmem.RunID, v inmem.Version) *runState {
	return &runState{ID: id, Name: name, Version: v, KV: map[string][]ver{}, Cells: map[string]ver{}, Retention: inmem.KeepAll().String()}
}

// dump reads the whole observable state of db. extra names keys, per run
// name, whose newest version may be a deletion (KVKeys does not list those).
func dump(t tb, db *inmem.DB, extra map[string][]string) dbState {
	t.Helper()
	s, err := dumpErr(db, extra)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return s
}

func dumpErr(db *inmem.DB, extra map[string][]string) (dbState, error) {
	out := dbState{Last: db.LastVersion()}
	runs, err := db.ListRuns()
	if err != nil {
		return out, err
	}
	for _, ri := range runs {
		rs := newRunState(ri.Name, ri.ID, ri.Version)
		rs.Created = ri.Created.UnixMicro()
		if err := dumpRun(db, rs, extra[ri.Name]); err != nil {
			return out, fmt.Errorf("run %q: %w", ri.Name, err)
		}
		out.Runs = append(out.Runs, *rs)
	}
	return out, nil
}

func dumpRun(db *inmem.DB, rs *runState, extra []string) error {
	keys, err := db.KVKeys(rs.ID, "")
	if err != nil {
		return err
	}
	for _, k := range slices.Compact(slices.Sorted(slices.Values(append(keys, extra...)))) {
		hist, err := db.KVHistory(rs.ID, k)
		if errors.Is(err, inmem.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		for _, h := range hist {
			rs.KV[k] = append(rs.KV[k], ver{Value: string(h.Value), Deleted: h.Value == nil, Version: h.Version, TS: h.Timestamp.UnixMicro()})
		}
	}
	n, err := db.EventCount(rs.ID)
	if err != nil {
		return err
	}
	evs, err := db.EventRange(rs.ID, 0, n)
	if err != nil {
		return err
	}
	for _, e := range evs {
		rs.Events = append(rs.Events, ev{Seq: e.Seq, Payload: string(e.Payload), Version: e.Version, TS: e.Timestamp.UnixMicro()})
	}
	cells, err := db.StateCells(rs.ID)
	if err != nil {
		return err
	}
	for _, c := range cells {
		v, err := db.StateGet(rs.ID, c)
		if err != nil {
			return err
		}
		rs.Cells[c] = ver{Value: string(v.Value), Version: v.Version, TS: v.Timestamp.UnixMicro()}
	}
	p, err := db.GetRetentionPolicy(rs.ID)
	if err != nil {
		return err
	}
	rs.Retention = p.String()
	return nil
}

// noTS returns s with every timestamp zeroed, to compare with a model that
// does not know commit times.
func (s dbState) noTS() dbState {
	out := dbState{Last: s.Last}
	for _, r := range s.Runs {
		c := r
		c.Created = 0
		c.KV = map[string][]ver{}
		for k, h := range r.KV {
			for _, v := range h {
				v.TS = 0
				c.KV[k] = append(c.KV[k], v)
			}
		}
		c.Events = nil
		for _, e := range r.Events {
			e.TS = 0
			c.Events = append(c.Events, e)
		}
		c.Cells = map[string]ver{}
		for k, v := range r.Cells {
			v.TS = 0
			c.Cells[k] = v
		}
		out.Runs = append(out.Runs, c)
	}
	return out
}

// diffStates describes how got differs from want, naming each entity, or
// returns "" if they are equal.
func diffStates(want, got dbState) string {
	var b strings.Builder
	add := func(format string, args ...any) {
		if b.Len() < 4000 {
			fmt.Fprintf(&b, format+"\n", args...)
		}
	}
	if want.Last != got.Last {
		add("LastVersion: want %d, got %d", want.Last, got.Last)
	}
	wr, gr := runsByName(want), runsByName(got)
	for _, name := range slices.Sorted(maps.Keys(unionKeys(wr, gr))) {
		w, okw := wr[name]
		g, okg := gr[name]
		switch {
		case !okg:
			add("run %q: missing (want created at version %d)", name, w.Version)
		case !okw:
			add("run %q: unexpected (created at version %d)", name, g.Version)
		default:
			diffRun(add, w, g)
		}
	}
	return b.String()
}

func diffRun(add func(string, ...any), w, g runState) {
	if w.ID != g.ID || w.Version != g.Version || w.Created != g.Created {
		add("run %q: want id %s version %d created %d, got id %s version %d created %d", w.Name, w.ID, w.Version, w.Created, g.ID, g.Version, g.Created)
	}
	for _, k := range slices.Sorted(maps.Keys(unionKeys(w.KV, g.KV))) {
		if !slices.Equal(w.KV[k], g.KV[k]) {
			add("run %q key %q: want history %+v, got %+v", w.Name, k, w.KV[k], g.KV[k])
		}
	}
	for i := range max(len(w.Events), len(g.Events)) {
		var we, ge *ev
		if i < len(w.Events) {
			we = &w.Events[i]
		}
		if i < len(g.Events) {
			ge = &g.Events[i]
		}
		if we == nil || ge == nil || *we != *ge {
			add("run %q event %d: want %+v, got %+v", w.Name, i, deref(we), deref(ge))
			break
		}
	}
	for _, c := range slices.Sorted(maps.Keys(unionKeys(w.Cells, g.Cells))) {
		wv, okw := w.Cells[c]
		gv, okg := g.Cells[c]
		if okw != okg || wv != gv {
			add("run %q cell %q: want %+v (exists %v), got %+v (exists %v)", w.Name, c, wv, okw, gv, okg)
		}
	}
	if w.Retention != g.Retention {
		add("run %q retention: want %s, got %s", w.Name, w.Retention, g.Retention)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "<none>"
	}
	return *p
}

func runsByName(s dbState) map[string]runState {
	m := map[string]runState{}
	for _, r := range s.Runs {
		m[r.Name] = r
	}
	return m
}

func unionKeys[V1, V2 any](a map[string]V1, b map[string]V2) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// checkInvariants checks what must hold of any state: event sequences are
// 0..n-1, every version is at or below Last, histories have increasing
// versions, and timestamps never decrease as versions increase.
func checkInvariants(t tb, s dbState) {
	t.Helper()
	type vt struct {
		v  inmem.Version
		ts int64
	}
	var all []vt
	for _, r := range s.Runs {
		all = append(all, vt{r.Version, r.Created})
		for k, h := range r.KV {
			for i, v := range h {
				if i > 0 && v.Version <= h[i-1].Version {
					t.Errorf("run %q key %q: versions not increasing: %+v", r.Name, k, h)
				}
				all = append(all, vt{v.Version, v.TS})
			}
		}
		for i, e := range r.Events {
			if e.Seq != uint64(i) {
				t.Errorf("run %q: event %d has sequence %d", r.Name, i, e.Seq)
			}
			all = append(all, vt{e.Version, e.TS})
		}
		for _, c := range r.Cells {
			all = append(all, vt{c.Version, c.TS})
		}
	}
	slices.SortFunc(all, func(a, b vt) int { return int(a.v) - int(b.v) })
	for i, x := range all {
		if x.v == 0 || x.v > s.Last {
			t.Errorf("version %d outside 1..%d", x.v, s.Last)
		}
		if i > 0 && x.v > all[i-1].v && x.ts < all[i-1].ts {
			t.Errorf("timestamp of version %d (%d) is below that of version %d (%d)", x.v, x.ts, all[i-1].v, all[i-1].ts)
		}
	}
}

// files returns every file under root on fsys with its content.
// settled waits until the files under root stop changing: the log
// prepares segments ahead of itself on a goroutine of its own, and a test
// that compares the disk before and after (or measures allocations)
// starts once that is done.
func settled(t tb, fsys vfs.FS, root string) {
	t.Helper()
	prev, same := files(t, fsys, root), 0
	for deadline := time.Now().Add(10 * time.Second); same < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		cur := files(t, fsys, root)
		if sameFiles(prev, cur) == nil {
			same++
		} else {
			same = 0
		}
		prev = cur
	}
}

func files(t tb, fsys vfs.FS, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		if err != nil {
			t.Fatalf("list %s: %v", dir, err)
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			info, err := fsys.Stat(p)
			if err != nil {
				t.Fatalf("stat %s: %v", p, err)
			}
			if info.IsDir() {
				walk(p)
				continue
			}
			b, err := vfs.ReadFile(fsys, p)
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			out[p] = b
		}
	}
	walk(root)
	return out
}

// diskBytes is the total size of the files under root.
func diskBytes(t tb, fsys vfs.FS, root string) int64 {
	var n int64
	for _, b := range files(t, fsys, root) {
		n += int64(len(b))
	}
	return n
}

// sameFiles reports the first difference between two file sets.
func sameFiles(want, got map[string][]byte) error {
	for _, p := range slices.Sorted(maps.Keys(unionKeys(want, got))) {
		w, okw := want[p]
		g, okg := got[p]
		switch {
		case !okg:
			return fmt.Errorf("%s was removed", p)
		case !okw:
			return fmt.Errorf("%s was created", p)
		case string(w) != string(g):
			return fmt.Errorf("%s changed (%d bytes, now %d)", p, len(w), len(g))
		}
	}
	return nil
}
