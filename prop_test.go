package inmem_test

import (
	"fmt"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
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
		p := &propDB{rt: rt, m: crashtest.NewReferenceModel(), mem: vfs.NewMemFS()}
		p.opts = &inmem.Options{
			Durability:  rapid.SampledFrom([]inmem.Durability{inmem.Strict, inmem.Buffered}).Draw(rt, "mode"),
			SegmentSize: 4096,
		}
		p.open()
		defer func() { p.db.Close() }()
		p.createRun("a")
		for i := range rapid.IntRange(1, 80).Draw(rt, "ops") {
			p.step(i)
		}
		checkModel(rt, p.db, p.m, "at the end")
		p.reopen()
	})
}

// propDB issues every operation through a crashtest runner: the model
// records each, checks its outcome, and knows where a full compaction
// trimmed.
type propDB struct {
	rt   *rapid.T
	m    *crashtest.ReferenceModel
	r    *crashtest.ScenarioRunner
	mem  *vfs.MemFS
	db   *inmem.DB
	opts *inmem.Options
	runs []string
}

func (p *propDB) open() {
	p.db = openMem(p.rt, p.mem, p.opts)
	p.r = crashtest.NewRunner(p.db, p.m)
}

// update commits ws as one transaction; a delete of a missing key must
// fail, as the model predicts.
func (p *propDB) update(ws ...crashtest.Write) {
	p.rt.Helper()
	if err := p.r.Update(ws...); err != nil && !crashtest.ExpectedFailure(err) {
		p.rt.Fatalf("commit %v: %v", ws, err)
	}
	p.checkOutcomes()
}

func (p *propDB) checkOutcomes() {
	p.rt.Helper()
	if ms := p.r.Mismatches(); ms != nil {
		p.rt.Fatalf("the database disagrees with the model:\n%s", list(ms))
	}
}

func (p *propDB) createRun(name string) {
	p.runs = append(p.runs, name)
	p.update(crashtest.CreateRun(name))
}

func (p *propDB) step(i int) {
	rt := p.rt
	run := rapid.SampledFrom(p.runs).Draw(rt, "run")
	key := fmt.Sprintf("k%d", rapid.IntRange(0, 4).Draw(rt, "key"))
	val := []byte(fmt.Sprintf("%s/%s/%d", run, key, i))
	switch op := rapid.IntRange(0, 11).Draw(rt, "op"); op {
	case 0, 1, 2:
		p.update(crashtest.Put(run, key, val))
	case 3:
		p.update(crashtest.Delete(run, key))
	case 4:
		p.update(crashtest.Append(run, val))
	case 5:
		p.update(crashtest.Set(run, key, val))
	case 6:
		p.transaction(run, i)
	case 7:
		p.update(crashtest.Retain(run, rapid.IntRange(0, 2).Draw(rt, "keep")))
	case 8, 9:
		p.maintain(op)
	case 10:
		p.reopen()
	case 11:
		p.crash()
	}
	if len(p.runs) < 3 && rapid.IntRange(0, 20).Draw(rt, "new run") == 0 {
		p.createRun(fmt.Sprintf("r%d", len(p.runs)))
	}
}

// maintain checkpoints (op 8) or compacts (op 9): a full compaction applies
// the retention policies, exactly as the model expects.
func (p *propDB) maintain(op int) {
	var err error
	if op == 8 {
		err = p.r.Checkpoint()
	} else {
		err = p.r.Compact(rapid.SampledFrom([]inmem.CompactMode{inmem.CompactWALOnly, inmem.CompactFull}).Draw(p.rt, "compact"))
	}
	if err != nil {
		p.rt.Fatal(err)
	}
	p.checkOutcomes()
}

// transaction writes two keys, one of them twice, and an event, in one
// commit.
func (p *propDB) transaction(run string, i int) {
	k1, k2 := fmt.Sprintf("k%d", i%5), fmt.Sprintf("k%d", (i+1)%5)
	a, b, c := fmt.Appendf(nil, "tx%d-a", i), fmt.Appendf(nil, "tx%d-b", i), fmt.Appendf(nil, "tx%d-c", i)
	p.update(crashtest.Put(run, k1, a), crashtest.Put(run, k2, b), crashtest.Put(run, k1, c), crashtest.Append(run, a))
}

func (p *propDB) reopen() {
	if err := p.db.Close(); err != nil {
		p.rt.Fatal(err)
	}
	p.open()
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
	p.open()
	checkModel(p.rt, p.db, p.m, fmt.Sprintf("after a crash (%s)", policy))
}
