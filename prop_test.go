package inmem_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
	"pgregory.net/rapid"
)

// TestDB_Property_MatchesModel draws op sequences (writes over every
// primitive, transactions, checkpoints, compactions with retention, clean
// reopens and crashes) and checks after each reopen and at the end that the
// database shows exactly the model. rapid shrinks a failure to a minimal
// sequence; it prints the -rapid.seed that reproduces it.
func TestDB_Property_MatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := &propDB{rt: rt, m: newModel(), mem: vfs.NewMemFS()}
		p.opts = &inmem.Options{
			Durability:  rapid.SampledFrom([]inmem.Durability{inmem.Strict, inmem.Buffered}).Draw(rt, "mode"),
			SegmentSize: 4096,
		}
		p.db = openMem(rt, p.mem, p.opts)
		defer func() { p.db.Close() }()
		p.createRun("a")
		for i := range rapid.IntRange(1, 80).Draw(rt, "ops") {
			p.step(i)
		}
		checkModel(rt, p.db, p.m, "at the end")
		p.reopen()
	})
}

type propDB struct {
	rt   *rapid.T
	m    *model
	mem  *vfs.MemFS
	db   *inmem.DB
	opts *inmem.Options
	runs []string
}

func (p *propDB) commit(muts []mut, fn func(*inmem.Tx) error) {
	p.rt.Helper()
	v, err := p.db.Commit(fn)
	if err != nil {
		p.rt.Fatalf("commit %+v: %v", muts, err)
	}
	if err := p.m.apply(rec{v: v, muts: muts}); err != nil {
		p.rt.Fatal(err)
	}
}

func (p *propDB) createRun(name string) {
	var id inmem.RunID
	v, err := p.db.Commit(func(tx *inmem.Tx) (err error) {
		id, err = tx.CreateRun(name)
		return err
	})
	if err != nil {
		p.rt.Fatal(err)
	}
	p.runs = append(p.runs, name)
	if err := p.m.apply(rec{v: v, muts: []mut{{kind: mCreateRun, run: name, id: id}}}); err != nil {
		p.rt.Fatal(err)
	}
}

func (p *propDB) step(i int) {
	rt := p.rt
	run := rapid.SampledFrom(p.runs).Draw(rt, "run")
	id := p.m.runs[run].ID
	key := fmt.Sprintf("k%d", rapid.IntRange(0, 4).Draw(rt, "key"))
	val := fmt.Sprintf("%s/%s/%d", run, key, i)
	switch op := rapid.IntRange(0, 11).Draw(rt, "op"); op {
	case 0, 1, 2:
		p.commit([]mut{{kind: mPut, run: run, key: key, value: val}}, func(tx *inmem.Tx) error { return tx.KVPut(id, key, []byte(val)) })
	case 3:
		h := p.m.runs[run].KV[key]
		live := len(h) > 0 && !h[len(h)-1].Deleted
		if !live {
			if err := p.db.KVDelete(id, key); !errors.Is(err, inmem.ErrNotFound) {
				rt.Fatalf("delete of %s/%s (not live) = %v", run, key, err)
			}
			return
		}
		p.commit([]mut{{kind: mDel, run: run, key: key}}, func(tx *inmem.Tx) error { return tx.KVDelete(id, key) })
	case 4:
		seq := uint64(len(p.m.runs[run].Events))
		p.commit([]mut{{kind: mEvent, run: run, value: val, seq: seq}}, func(tx *inmem.Tx) error {
			_, err := tx.EventAppend(id, []byte(val))
			return err
		})
	case 5:
		p.commit([]mut{{kind: mCell, run: run, key: key, value: val}}, func(tx *inmem.Tx) error { return tx.StateSet(id, key, []byte(val)) })
	case 6:
		p.transaction(run, id, i)
	case 7:
		n := rapid.IntRange(0, 2).Draw(rt, "keep")
		pol := inmem.KeepAll()
		if n > 0 {
			pol = inmem.KeepLast(n)
		}
		p.commit([]mut{{kind: mRetention, run: run, value: pol.String(), keep: n}}, func(tx *inmem.Tx) error { return tx.SetRetentionPolicy(id, pol) })
	case 8:
		if _, err := p.db.Checkpoint(); err != nil {
			rt.Fatal(err)
		}
	case 9:
		mode := rapid.SampledFrom([]inmem.CompactMode{inmem.CompactWALOnly, inmem.CompactFull}).Draw(rt, "compact")
		if _, err := p.db.Compact(mode); err != nil {
			rt.Fatal(err)
		}
		if mode == inmem.CompactFull {
			p.m.trim()
		}
	case 10:
		p.reopen()
	case 11:
		p.crash()
	}
	if len(p.runs) < 3 && rapid.IntRange(0, 20).Draw(rt, "new run") == 0 {
		p.createRun(fmt.Sprintf("r%d", len(p.runs)))
	}
}

// transaction writes two keys, one of them twice, and an event, in one
// commit.
func (p *propDB) transaction(run string, id inmem.RunID, i int) {
	k1, k2 := fmt.Sprintf("k%d", i%5), fmt.Sprintf("k%d", (i+1)%5)
	a, b, c := fmt.Sprintf("tx%d-a", i), fmt.Sprintf("tx%d-b", i), fmt.Sprintf("tx%d-c", i)
	seq := uint64(len(p.m.runs[run].Events))
	muts := []mut{{kind: mPut, run: run, key: k1, value: a}, {kind: mPut, run: run, key: k2, value: b}, {kind: mPut, run: run, key: k1, value: c}, {kind: mEvent, run: run, value: a, seq: seq}}
	p.commit(muts, func(tx *inmem.Tx) error {
		for _, m := range muts[:3] {
			if err := tx.KVPut(id, m.key, []byte(m.value)); err != nil {
				return err
			}
		}
		_, err := tx.EventAppend(id, []byte(a))
		return err
	})
}

func (p *propDB) reopen() {
	if err := p.db.Close(); err != nil {
		p.rt.Fatal(err)
	}
	p.db = openMem(p.rt, p.mem, p.opts)
	checkModel(p.rt, p.db, p.m, "after reopen")
}

// crash simulates a power loss (Strict) or a process crash (Buffered, whose
// unsynced commits a power loss may drop).
func (p *propDB) crash() {
	policy := vfs.CrashPolicy{Mode: vfs.KeepUnsynced}
	if p.opts.Durability == inmem.Strict {
		policy = rapid.SampledFrom([]vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}, {Mode: vfs.RandomUnsynced, Seed: 1}, {Mode: vfs.RandomUnsynced, Seed: 2}}).Draw(p.rt, "policy")
	}
	crashed := p.mem.Crash(policy)
	p.db.Close()
	p.mem = crashed
	p.db = openMem(p.rt, p.mem, p.opts)
	checkModel(p.rt, p.db, p.m, fmt.Sprintf("after a crash (%s)", policy))
}
