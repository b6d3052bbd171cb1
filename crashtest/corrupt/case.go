package corrupt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

// The bounds on the cost of recovering a damaged database, checked for
// every case: whatever the damage (a length or count field set to 4 GiB,
// say), recovery allocates at most MaxRecoveryAllocFactor times the bytes of
// the database's files plus MaxRecoveryAllocSlack, and takes at most
// MaxRecoveryTime.
const (
	MaxRecoveryAllocFactor = 16
	MaxRecoveryAllocSlack  = 64 << 20
	MaxRecoveryTime        = 10 * time.Second
)

// Config says which case RunCase builds.
type Config struct {
	Dir        string // the database's path (on an in-memory filesystem)
	Seed       uint64 // chooses the workload, how it ends and the damage
	Durability inmem.Durability
	// Plant, if set, changes every database the case opens (see
	// crashtest.Session.Plant).
	Plant func(*inmem.Options)
}

// Case is one damaged database and what recovery made of it.
type Case struct {
	Seed       uint64
	Durability inmem.Durability
	Clean      bool   // the database was closed cleanly, not killed
	Damage     string // what was done to the files
	Expect     string // what recovery must do
	Recovered  inmem.Version
	AckedKept  int
	// Alloc is what recovery allocated, Took how long it took.
	Alloc  uint64
	Took   time.Duration
	Passed bool
	Detail string
}

// RunCase builds a database from a seeded workload (closed cleanly or left
// as a killed process leaves it, by seed), damages it one of the ways
// damages lists (by seed), recovers and judges the outcome by the rule of
// the formats: damage to the newest segment, at or after the durable end
// the MANIFEST records, that no later valid record claims synced, is a torn
// tail, and exactly the records before it open, taking new writes; any
// other damage is refused with a *CorruptionError naming the file and the
// record (and a reason that names what is wrong), and leaves every file
// byte-for-byte unchanged; point-in-time recovery opens exactly the records
// before the damage. Where each record lies and what it claims synced the
// harness learns from the operations that wrote the files, not from the
// engine. Every recovery's allocations and time are bounded (see
// MaxRecoveryAllocFactor).
func RunCase(cfg Config) Case {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xc0dd))
	out := Case{Seed: cfg.Seed, Durability: cfg.Durability, Clean: rng.IntN(2) == 0}
	opts := crashtest.Replayable(inmem.Options{Durability: cfg.Durability, SegmentSize: 4096, SyncInterval: time.Hour})
	h, err := build(cfg.Dir, cfg.Seed, opts, cfg.Plant, out.Clean)
	if err != nil {
		return out.fail("building the database: %v", err)
	}
	opts.FS = h.fs
	dmg, x, want, err := damageOne(h, opts, rng)
	if err != nil {
		return out.fail("damaging: %v", err)
	}
	out.Damage, out.Expect = dmg.name, want.String()
	if dmg.pointInTime {
		opts.Recovery = inmem.RecoverPointInTime
	}
	return out.judge(h, opts, cfg.Plant, x, want)
}

func (out Case) fail(format string, args ...any) Case {
	out.Detail = fmt.Sprintf(format, args...)
	return out
}

// damageOne applies the damage the seed draws (the next one that applies
// if it does not) and returns what recovery must make of it.
func damageOne(h *history, opts inmem.Options, rng *rand.Rand) (damage, hit, outcome, error) {
	t := NewWALCorruptionTester(h.dir).WithFS(h.fs, opts)
	mf, err := t.manifest()
	if err != nil {
		return damage{}, hit{}, outcome{}, err
	}
	d := &damager{t: t, h: h, rng: rng, live: liveSegments(t, mf.ActiveSegment)}
	if len(d.live) == 0 {
		return damage{}, hit{}, outcome{}, errors.New("the database has no live segment")
	}
	d.newest = t.SegmentPath(d.live[len(d.live)-1])
	end := logEnd{segment: d.live[len(d.live)-1], offset: h.size[d.newest], watermark: mf.Watermark}
	if mf.LogEnd != nil {
		end.segment, end.offset = mf.LogEnd.Segment, mf.LogEnd.Offset
	}
	d.end = end
	first := rng.IntN(len(damages))
	for i := range damages {
		dmg := damages[(first+i)%len(damages)]
		x, err := dmg.do(d)
		if errors.Is(err, errSkip) {
			continue
		}
		want := h.expect(x, end, d.newest)
		if dmg.pointInTime && x.from >= 0 {
			want = end.prefix(h.before(x.file, h.damagedAt(x)))
		}
		return dmg, x, want, err
	}
	return damage{}, hit{}, outcome{}, errors.New("no damage applies")
}

// judge recovers the damaged database and compares with the outcome
// wanted.
func (out Case) judge(h *history, opts inmem.Options, plant func(*inmem.Options), x hit, want outcome) Case {
	before := treeDigest(h.fs, h.dir)
	var db *inmem.DB
	var err error
	cost := measure(func() { db, err = inmem.Open(h.dir, crashtest.Planted(opts, plant)) })
	out.Alloc, out.Took = cost.alloc, cost.took
	if msg := cost.check(h); msg != "" {
		if db != nil {
			db.Close()
		}
		return out.fail("%s", msg)
	}
	if err != nil {
		return out.refused(err, x, want, before, treeDigest(h.fs, h.dir))
	}
	defer db.Close()
	if want.refused {
		return out.fail("the damage hit durable bytes and was not refused: the database opened at v%d", db.LastVersion())
	}
	return out.opened(db, h, want)
}

// refused judges a recovery that refused the database.
func (out Case) refused(err error, x hit, want outcome, before, after string) Case {
	var ce *inmem.CorruptionError
	switch {
	case !errors.As(err, &ce):
		return out.fail("recovery failed with a non-corruption error: %v", err)
	case !want.refused:
		return out.fail("the damage was a torn tail, but recovery refused it: %v", err)
	case ce.File != want.file || want.offset >= 0 && ce.Offset != want.offset:
		return out.fail("the refusal names %s at %d, want %s at %d: %v", ce.File, ce.Offset, want.file, want.offset, err)
	case len(x.reasons) > 0 && !slices.ContainsFunc(x.reasons, func(w string) bool { return strings.Contains(ce.Reason, w) }):
		return out.fail("the refusal's reason %q names none of %q", ce.Reason, x.reasons)
	case before != after:
		return out.fail("a refused recovery changed files")
	}
	out.Passed, out.Detail = true, err.Error()
	return out
}

// opened judges a recovery that opened the database: exactly the prefix
// wanted, a prefix of the history, and it takes new writes.
func (out Case) opened(db *inmem.DB, h *history, want outcome) Case {
	v := h.model.Judge(db, crashtest.Promise{Durability: inmem.InMemory, Crash: crashtest.PowerLoss})
	out.Recovered, out.AckedKept = v.Recovered, v.AckedKept
	switch {
	case len(v.Mismatches) > 0:
		return out.fail("the recovered state is not a prefix of the history: %v", v.Mismatches)
	case v.Recovered != want.version:
		return out.fail("recovered v%d, want exactly v%d", v.Recovered, want.version)
	}
	h.model.Settle(db.LastVersion())
	probe := crashtest.NewRunner(db, h.model)
	if err := probe.KVPut("crashtest-probe", "after-damage", []byte("x")); err != nil || len(probe.Mismatches()) > 0 {
		return out.fail("a write after recovery failed: %v %v", err, probe.Mismatches())
	}
	out.Passed = true
	return out
}

// cost is what one recovery allocated and how long it took.
type cost struct {
	alloc uint64
	took  time.Duration
}

// measure runs fn and returns what it allocated and how long it took.
func measure(fn func()) cost {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	alloc, start := ms.TotalAlloc, time.Now()
	fn()
	took := time.Since(start)
	runtime.ReadMemStats(&ms)
	return cost{alloc: ms.TotalAlloc - alloc, took: took}
}

// check says which bound a recovery broke ("" if none).
func (c cost) check(h *history) string {
	limit := MaxRecoveryAllocFactor*uint64(treeSize(h.fs, h.dir)) + MaxRecoveryAllocSlack
	switch {
	case c.alloc > limit:
		return fmt.Sprintf("recovery allocated %d bytes, more than the bound of %d for a database of %d bytes", c.alloc, limit, treeSize(h.fs, h.dir))
	case c.took > MaxRecoveryTime:
		return fmt.Sprintf("recovery took %v, more than the bound of %v", c.took, MaxRecoveryTime)
	}
	return ""
}

// treeDigest hashes every file under dir but the lock.
func treeDigest(fsys vfs.FS, dir string) string {
	sum := sha256.New()
	walk(fsys, dir, func(p string, b []byte) { fmt.Fprintf(sum, "%s %x\n", p, sha256.Sum256(b)) })
	return fmt.Sprintf("%x", sum.Sum(nil))
}

// treeSize is the bytes of every file under dir.
func treeSize(fsys vfs.FS, dir string) int64 {
	var n int64
	walk(fsys, dir, func(_ string, b []byte) { n += int64(len(b)) })
	return n
}

// walk calls fn with every file under dir but the lock, in name order.
func walk(fsys vfs.FS, dir string, fn func(path string, data []byte)) {
	names, _ := fsys.List(dir)
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(dir, name)
		if info, err := fsys.Stat(p); err == nil && info.IsDir() {
			walk(fsys, p, fn)
		} else if name != inmem.LockName {
			b, _ := vfs.ReadFile(fsys, p)
			fn(p, b)
		}
	}
}
