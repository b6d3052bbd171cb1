package crashtest

import (
	"fmt"
	"maps"
	"slices"

	"github.com/in-mem/inmem"
)

// Image is a database's whole state as its public API shows it, with what
// no model can predict: run ids and commit timestamps. Two images of one
// database must be equal across anything that changes no data, such as a
// clean reopen, a checkpoint or a copy of its directory.
type Image struct{ s *dbState }

// Capture reads db's image. KVKeys lists only live keys, so Capture also
// reads the history of every key m's history wrote (m may be nil): deleted
// keys keep theirs.
func Capture(db *inmem.DB, m *ReferenceModel) (*Image, error) {
	s, err := captureDB(db)
	if err != nil {
		return nil, err
	}
	if m != nil {
		if err := captureKeys(db, s, m.latest); err != nil {
			return nil, err
		}
	}
	return &Image{s}, nil
}

// Diff returns every difference between im, the image expected, and got,
// timestamps and run ids included (nil if they are equal).
func (im *Image) Diff(got *Image) []StateMismatch {
	var out []StateMismatch
	if im.s.last != got.s.last {
		out = append(out, StateMismatch{"version", fmt.Sprintf("last version v%d", im.s.last), fmt.Sprintf("v%d", got.s.last)})
	}
	return append(out, diff(im.s, got.s, comparison{stamps: true})...)
}

// stamp is the version and time of one commit, as an entity shows them.
type stamp struct {
	v  inmem.Version
	ts int64
	at string // the entity, for reports
}

// Check returns what is wrong with the image whatever the history: event
// sequence numbers that are not 0..n-1, key histories whose versions do not
// increase, versions outside 1..LastVersion, and a commit whose timestamps
// differ between entities or go back from an earlier commit's.
func (im *Image) Check() []StateMismatch {
	var out []StateMismatch
	var stamps []stamp
	for _, name := range slices.Sorted(maps.Keys(im.s.runs)) {
		r := im.s.runs[name]
		out = append(out, r.check(name)...)
		stamps = append(stamps, r.stamps(name)...)
	}
	slices.SortStableFunc(stamps, func(a, b stamp) int { return int(a.v) - int(b.v) })
	for i, x := range stamps {
		if x.v == 0 || x.v > im.s.last {
			out = append(out, StateMismatch{x.at, fmt.Sprintf("a version in v1..v%d", im.s.last), fmt.Sprintf("v%d", x.v)})
		}
		if i == 0 {
			continue
		}
		p := stamps[i-1]
		if (x.v == p.v && x.ts != p.ts) || (x.v > p.v && x.ts < p.ts) {
			out = append(out, StateMismatch{x.at, fmt.Sprintf("v%d at or after %dµs (%s at v%d)", x.v, p.ts, p.at, p.v), fmt.Sprintf("at %dµs", x.ts)})
		}
	}
	return out
}

// check returns what is wrong with the run's histories and event log.
func (r *runState) check(name string) []StateMismatch {
	var out []StateMismatch
	for _, k := range slices.Sorted(maps.Keys(r.kv)) {
		h := r.kv[k]
		for i := 1; i < len(h); i++ {
			if h[i].version <= h[i-1].version {
				out = append(out, StateMismatch{fmt.Sprintf("kv:%s/%s", name, k), "increasing versions", comparison{stamps: true}.fmtHistory(h)})
				break
			}
		}
	}
	for i, e := range r.events {
		if e.seq != uint64(i) {
			out = append(out, StateMismatch{fmt.Sprintf("event:%s#%d", name, i), fmt.Sprintf("sequence number %d", i), fmt.Sprint(e.seq)})
		}
	}
	return out
}

// stamps lists the version and time of every entity of the run.
func (r *runState) stamps(name string) []stamp {
	out := []stamp{{r.created, r.createdTS, "run:" + name}}
	for _, k := range slices.Sorted(maps.Keys(r.kv)) {
		for _, v := range r.kv[k] {
			out = append(out, stamp{v.version, v.ts, fmt.Sprintf("kv:%s/%s", name, k)})
		}
	}
	for i, e := range r.events {
		out = append(out, stamp{e.version, e.ts, fmt.Sprintf("event:%s#%d", name, i)})
	}
	for _, c := range slices.Sorted(maps.Keys(r.cells)) {
		out = append(out, stamp{r.cells[c].version, r.cells[c].ts, fmt.Sprintf("cell:%s/%s", name, c)})
	}
	return out
}
