package corrupt

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/vfs"
)

// history is a database a seeded workload built, as a case damages it:
// its files, its model, and where each log record lies, learned from the
// filesystem operations that wrote it, not from the engine.
type history struct {
	dir   string
	fs    *vfs.MemFS
	model *crashtest.ReferenceModel
	clean bool // closed cleanly; otherwise the process died (files as written)
	// records are each segment's records by path, in order.
	records map[string][]record
	size    map[string]int64 // where each segment's log ends: its records' end
}

// record is one log record: its bytes, its commit version, and the synced
// offset its segment was known to have when it was written (what the
// record claims durable).
type record struct {
	off, end int64
	version  inmem.Version
	claim    int64
}

// build runs the seeded workload on a recording filesystem, then closes the
// database cleanly, or leaves its files as a killed process would.
func build(dir string, seed uint64, opts inmem.Options, plant func(*inmem.Options), clean bool) (*history, error) {
	rec := fsrecord.New(nil)
	opts.FS = rec
	db, err := inmem.Open(dir, crashtest.Planted(opts, plant))
	if err != nil {
		return nil, err
	}
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	// 93 operations end just before the cycle's next checkpoint, with the
	// log since the last one spread over several segments.
	g := crashtest.NewGenerator(crashtest.WorkloadConfig{Seed: seed, ValueSize: 300}, 0, "")
	for range 93 {
		if err := g.Next().Run(r); err != nil && !crashtest.ExpectedFailure(err) {
			db.Close()
			return nil, err
		}
	}
	if ms := r.Mismatches(); len(ms) > 0 {
		db.Close()
		return nil, fmt.Errorf("the database disagreed with the model: %v", ms)
	}
	h := &history{dir: dir, model: m, clean: clean}
	if clean {
		err = r.Close()
		h.fs = rec.Inner()
	} else {
		h.fs = rec.Inner().Kill() // the files as the process left them
		err = db.Close()
	}
	if err != nil {
		return nil, err
	}
	return h, h.layout(rec.Log())
}

// layout learns where every record lies from the operations that wrote
// the log: the header first, then one write per commit (the workload has
// one writer), at the end of the log; a record claims what the last sync
// of its segment before it covered. The writes of zeros that prepare a
// segment ahead of the log (no record is all zeros: its length is not 0)
// hold no record and do not move the log's end.
func (h *history) layout(log []fsrecord.Op) error {
	h.records, h.size = map[string][]record{}, map[string]int64{}
	synced := map[string]int64{}
	for _, op := range log {
		path := op.Path()
		if filepath.Dir(path) != filepath.Join(h.dir, walDirName) || !strings.HasSuffix(path, ".seg") {
			continue
		}
		switch {
		case op.IsSync():
			synced[path] = h.size[path]
		case op.Written() > 0 && h.size[path] == 0 && op.Written() == segmentHeader:
			h.size[path] = segmentHeader
		case op.Written() > 0 && allZero(op.Data()):
			// preparation, past the end of the log
		case op.Written() > 0:
			off := h.size[path]
			if at := op.Offset(); at >= 0 && at != off {
				return fmt.Errorf("crashtest: a record of %s written at %d, the log ends at %d", path, at, off)
			}
			h.size[path] += int64(op.Written())
			h.records[path] = append(h.records[path], record{off: off, end: h.size[path], claim: synced[path]})
		}
	}
	return h.versions()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// versions gives the records, in log order, the versions of the
// acknowledged commits, in order: one record per commit.
func (h *history) versions() error {
	var vs []inmem.Version
	for _, op := range h.model.Ops() {
		if op.Kind == crashtest.OpWrite && op.Status == crashtest.Acked {
			vs = append(vs, op.Version)
		}
	}
	slices.Sort(vs)
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range h.records {
			if !yield(p) {
				return
			}
		}
	})
	i := 0
	for _, p := range paths {
		for j := range h.records[p] {
			if i >= len(vs) {
				return fmt.Errorf("crashtest: %d records in the log, %d acknowledged commits", i+1, len(vs))
			}
			h.records[p][j].version = vs[i]
			i++
		}
	}
	if i != len(vs) {
		return fmt.Errorf("crashtest: %d records in the log, %d acknowledged commits", i, len(vs))
	}
	return nil
}

// containing returns the record of path that holds byte off, if any.
func (h *history) containing(path string, off int64) (record, bool) {
	for _, r := range h.records[path] {
		if off >= r.off && off < r.end {
			return r, true
		}
	}
	return record{}, false
}

// before returns the version of the last record of path that ends at or
// before off, or of the last record of an earlier segment.
func (h *history) before(path string, off int64) inmem.Version {
	var v inmem.Version
	for p, rs := range h.records {
		for _, r := range rs {
			if p < path || p == path && r.end <= off {
				v = max(v, r.version)
			}
		}
	}
	return v
}

// claimAfter returns the largest offset a record of path wholly after off
// claims synced (-1 if none).
func (h *history) claimAfter(path string, off int64) int64 {
	best := int64(-1)
	for _, r := range h.records[path] {
		if r.off > off {
			best = max(best, r.claim)
		}
	}
	return best
}
