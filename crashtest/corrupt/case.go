package corrupt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/in-mem/inmem/crashtest"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// Config says which case RunCase builds.
type Config struct {
	Dir        string // a directory that does not exist yet
	Seed       uint64 // chooses the workload and the damage
	Durability inmem.Durability
	// Plant, if set, changes every database the case opens (see
	// crashtest.Session.Plant).
	Plant func(*inmem.Options)
}

// Case is one damaged database and what recovery made of it.
type Case struct {
	Seed       uint64
	Damage     string // what was done to the files
	Expect     string // what recovery must do
	Recovered  inmem.Version
	AckedKept  int
	Passed     bool
	Detail     string
	Durability inmem.Durability
}

// corruption is one way to damage a database and the outcome it must have.
type corruption struct {
	name   string
	expect string
	// damage damages the closed database; it returns the file and offset a
	// refusal must name (file "" for tail damage, which must open; offset -1
	// when any offset will do).
	damage func(t *WALCorruptionTester, rng *rand.Rand, live []uint64) (file string, off int64, err error)
	// pointInTime opens with RecoverPointInTime.
	pointInTime bool
	// either accepts a refusal or a prefix.
	either bool
}

var corruptions = []corruption{
	{name: "truncate the tail", expect: "opens with a prefix",
		damage: func(t *WALCorruptionTester, rng *rand.Rand, _ []uint64) (string, int64, error) {
			return "", 0, t.TruncateWALTail(1 + rng.IntN(300))
		}},
	{name: "append garbage", expect: "opens with every record",
		damage: func(t *WALCorruptionTester, rng *rand.Rand, _ []uint64) (string, int64, error) {
			g := make([]byte, 1+rng.IntN(600))
			for i := range g {
				g[i] = byte(rng.UintN(256))
			}
			return "", 0, t.AppendGarbage(g)
		}},
	{name: "append a partial record", expect: "opens with every record",
		damage: func(t *WALCorruptionTester, _ *rand.Rand, _ []uint64) (string, int64, error) {
			return "", 0, t.CreatePartialRecord()
		}},
	{name: "zero-fill the tail", expect: "opens with a prefix",
		damage: func(t *WALCorruptionTester, rng *rand.Rand, _ []uint64) (string, int64, error) {
			return "", 0, t.ZeroFillTail(1 + rng.IntN(700))
		}},
	{name: "flip random bytes", expect: "refused as corruption, or opens with a prefix", either: true,
		damage: func(t *WALCorruptionTester, rng *rand.Rand, _ []uint64) (string, int64, error) {
			_, err := t.CorruptRandomBytes(1+rng.IntN(3), rng.Uint64())
			return "", 0, err
		}},
	{name: "damage a segment header", expect: "refused, naming the segment at offset 0",
		damage: func(t *WALCorruptionTester, rng *rand.Rand, live []uint64) (string, int64, error) {
			if len(live) < 2 {
				return "", 0, errSkip
			}
			seg := live[rng.IntN(len(live)-1)]
			return t.SegmentPath(seg), 0, t.CorruptSegmentHeader(seg)
		}},
	{name: "remove a middle segment", expect: "refused, naming the missing segment",
		damage: func(t *WALCorruptionTester, rng *rand.Rand, live []uint64) (string, int64, error) {
			if len(live) < 3 {
				return "", 0, errSkip
			}
			seg := live[1+rng.IntN(len(live)-2)]
			return t.SegmentPath(seg), -1, t.RemoveSegment(seg)
		}},
	{name: "damage the MANIFEST", expect: "refused, naming the MANIFEST",
		damage: func(t *WALCorruptionTester, _ *rand.Rand, _ []uint64) (string, int64, error) {
			return filepath.Join(t.dir, manifestName), -1, t.CorruptManifest()
		}},
	{name: "damage the snapshot", expect: "refused, naming the snapshot",
		damage: func(t *WALCorruptionTester, _ *rand.Rand, _ []uint64) (string, int64, error) {
			m, err := t.manifest()
			if err != nil || m.SnapshotID == 0 {
				return "", 0, errSkip
			}
			return filepath.Join(t.dir, snapDirName, fmt.Sprintf("snap-%06d.chk", m.SnapshotID)), -1, t.CorruptSnapshot()
		}},
	{name: "flip a byte, then recover point-in-time", expect: "opens with a prefix, originals in lost+found", pointInTime: true, either: true,
		damage: func(t *WALCorruptionTester, rng *rand.Rand, _ []uint64) (string, int64, error) {
			_, err := t.CorruptRandomBytes(1, rng.Uint64())
			return "", 0, err
		}},
}

var errSkip = errors.New("crashtest: this damage does not apply to this database")

// RunCase builds a database in dir from a seeded workload, damages
// it in one of the ways corruptions lists (chosen by seed), recovers and
// checks the outcome: tail damage opens with a prefix of the history and
// accepts new writes; damage to durable data is refused with a
// *CorruptionError naming the file (and offset) and leaves every file
// byte-for-byte unchanged; point-in-time recovery opens a prefix. No outcome
// may show a value no commit wrote.
func RunCase(cfg Config) Case {
	dir, seed, d := cfg.Dir, cfg.Seed, cfg.Durability
	rng := rand.New(rand.NewPCG(seed, 0xc0dd))
	c := corruptions[rng.IntN(len(corruptions))]
	out := Case{Seed: seed, Damage: c.name, Expect: c.expect, Durability: d}
	fail := func(format string, args ...any) Case {
		out.Detail = fmt.Sprintf(format, args...)
		return out
	}
	opts := inmem.Options{Durability: d, SegmentSize: 4096}
	m, err := buildHistory(dir, seed, *crashtest.Planted(opts, cfg.Plant))
	if err != nil {
		return fail("building the database: %v", err)
	}
	t := NewWALCorruptionTester(dir).WithFS(vfs.OS, opts)
	mf, err := t.manifest()
	if err != nil {
		return fail("reading the MANIFEST: %v", err)
	}
	all, _ := t.Segments()
	var live []uint64
	for _, s := range all {
		if s >= mf.ActiveSegment {
			live = append(live, s)
		}
	}
	file, off, err := c.damage(t, rng, live)
	if errors.Is(err, errSkip) {
		c, file, off = corruptions[0], "", 0
		out.Damage, out.Expect = c.name+" (fallback)", c.expect
		err = t.TruncateWALTail(1 + rng.IntN(300))
	}
	if err != nil {
		return fail("damaging: %v", err)
	}
	before := treeDigest(dir)
	if c.pointInTime {
		opts.Recovery = inmem.RecoverPointInTime
	}
	db, err := inmem.Open(dir, crashtest.Planted(opts, cfg.Plant))
	if err != nil {
		return checkRefusal(out, c, err, file, off, before, treeDigest(dir))
	}
	defer db.Close()
	if file != "" {
		return fail("damage to durable data (%s) was not refused: the database opened at v%d", file, db.LastVersion())
	}
	v := m.Judge(db, crashtest.Promise{Durability: inmem.InMemory, Crash: crashtest.PowerLoss})
	out.Recovered, out.AckedKept = v.Recovered, v.AckedKept
	if len(v.Mismatches) > 0 {
		return fail("the recovered state is not a prefix of the history: %v", v.Mismatches)
	}
	if c.expect == "opens with every record" && v.Recovered != m.Latest() {
		return fail("recovered v%d, want every record up to v%d", v.Recovered, m.Latest())
	}
	m.Settle(db.LastVersion())
	probe := crashtest.NewRunner(db, m)
	if err := probe.KVPut("crashtest-probe", "after-damage", []byte("x")); err != nil || len(probe.Mismatches()) > 0 {
		return fail("a write after recovery failed: %v %v", err, probe.Mismatches())
	}
	out.Passed = true
	return out
}

func checkRefusal(out Case, c corruption, err error, file string, off int64, before, after string) Case {
	var ce *inmem.CorruptionError
	switch {
	case !errors.As(err, &ce):
		out.Detail = fmt.Sprintf("recovery failed with a non-corruption error: %v", err)
	case file == "" && !c.either:
		out.Detail = fmt.Sprintf("tail damage was refused: %v", err)
	case file != "" && (ce.File != file || (off >= 0 && ce.Offset != off)):
		out.Detail = fmt.Sprintf("the refusal names %s at %d, want %s at %d", ce.File, ce.Offset, file, off)
	case before != after:
		out.Detail = "a refused recovery changed files on disk"
	default:
		out.Passed = true
		out.Detail = err.Error()
	}
	return out
}

// buildHistory writes a seeded workload into a new database in dir.
func buildHistory(dir string, seed uint64, opts inmem.Options) (*crashtest.ReferenceModel, error) {
	db, err := inmem.Open(dir, &opts)
	if err != nil {
		return nil, err
	}
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	g := crashtest.NewGenerator(crashtest.WorkloadConfig{Seed: seed, ValueSize: 120}, 0, "")
	for range 90 {
		if err := g.Next().Run(r); err != nil && !crashtest.ExpectedFailure(err) {
			db.Close()
			return nil, err
		}
	}
	if len(r.Mismatches()) > 0 {
		db.Close()
		return nil, fmt.Errorf("the database disagreed with the model: %v", r.Mismatches())
	}
	return m, db.Close()
}

// treeDigest hashes every file under dir but the lock.
func treeDigest(dir string) string {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() == "LOCK" {
			return nil
		}
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(b))
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}
