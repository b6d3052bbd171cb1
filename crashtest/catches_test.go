package crashtest_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// These tests prove the harness catches broken environments: a harness that
// passes them by checking little would fail here.

// lossyFS silently drops one write to a WAL segment: it reports success and
// stores nothing.
type lossyFS struct {
	vfs.FS
	drop   int64
	writes *atomic.Int64
}

func (l lossyFS) Create(name string) (vfs.File, error) { return l.wrap(l.FS.Create(name)) }
func (l lossyFS) OpenAppend(name string) (vfs.File, error) {
	return l.wrap(l.FS.OpenAppend(name))
}

func (l lossyFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &lossyFile{File: f, fs: l}, nil
}

type lossyFile struct {
	vfs.File
	fs lossyFS
}

func (f *lossyFile) Write(p []byte) (int, error) {
	if f.fs.writes.Add(1) == f.fs.drop {
		return len(p), nil
	}
	return f.File.Write(p)
}

func walOnly(drop int64) func(vfs.FS) vfs.FS {
	return func(base vfs.FS) vfs.FS {
		return &walFilter{FS: base, lossy: lossyFS{FS: base, drop: drop, writes: new(atomic.Int64)}}
	}
}

// walFilter routes WAL segment files through the lossy filesystem.
type walFilter struct {
	vfs.FS
	lossy lossyFS
}

func (w *walFilter) OpenAppend(name string) (vfs.File, error) {
	if strings.HasSuffix(name, ".seg") {
		return w.lossy.OpenAppend(name)
	}
	return w.FS.OpenAppend(name)
}

func (w *walFilter) Create(name string) (vfs.File, error) {
	if strings.HasSuffix(name, ".seg") {
		return w.lossy.Create(name)
	}
	return w.FS.Create(name)
}

func TestCrashHarness_CatchesLostWrite(t *testing.T) {
	for _, typ := range []crashtest.CrashType{crashtest.ProcessKill, crashtest.PowerLoss} {
		t.Run(typ.String(), func(t *testing.T) {
			cfg := crashtest.DefaultCrashConfig()
			cfg.CrashProbability = 0
			cfg.CrashTypes = []crashtest.CrashType{typ}
			// The segment header is write 1; drop the record batch of write 4.
			cfg.WrapFS = walOnly(4)
			h := crashtest.NewCrashHarness(t.TempDir(), cfg)
			res, err := h.RunScenario(crashtest.MixedScenario(1))
			if err != nil {
				t.Fatal(err)
			}
			if res.Recovery.Valid {
				t.Fatalf("a lost WAL write went unnoticed: %v", res)
			}
			t.Logf("caught: recovery err %v; %d mismatches, first %v", res.Recovery.Err, len(res.Recovery.Mismatches), first(res.Recovery.Mismatches))
		})
	}
}

func first(ms []crashtest.StateMismatch) any {
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

// TestCrashHarness_CatchesRewrittenRecord changes a value inside a WAL record
// after the crash and fixes the record's checksum, so the engine cannot
// notice: only the model can. The record is one written after the
// scenario's checkpoint, so recovery replays it.
func TestCrashHarness_CatchesRewrittenRecord(t *testing.T) {
	cfg := crashtest.DefaultCrashConfig()
	cfg.CrashProbability = 0
	cfg.CrashTypes = []crashtest.CrashType{crashtest.PowerLoss}
	cfg.AfterCrash = func(fsys vfs.FS, dir string) error {
		return rewriteValue(t, fsys, filepath.Join(dir, "WAL", "wal-000001.seg"), []byte("beta/after-ckpt/"), []byte("beta/after-ckpX/"))
	}
	h := crashtest.NewCrashHarness(t.TempDir(), cfg)
	res, err := h.RunScenario(crashtest.MixedScenario(1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Recovery.Valid {
		t.Fatalf("a value rewritten on disk went unnoticed: %v", res)
	}
	found := false
	for _, m := range res.Recovery.Mismatches {
		if m.Entity == "kv:beta/after-ckpt" && strings.Contains(m.Actual, "after-ckpX") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no mismatch names kv:beta/after-ckpt with the rewritten value: %v", res.Recovery.Mismatches)
	}
}

// rewriteValue replaces old by new inside the payload of the record holding
// it, recomputing the record's CRC.
func rewriteValue(t *testing.T, fsys vfs.FS, path string, old, new []byte) error {
	t.Helper()
	data, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return err
	}
	for off := int64(wal.HeaderSize); off < int64(len(data)); {
		r, n, err := wal.DecodeRecord(data[off:], off, 1<<24)
		if err != nil {
			break
		}
		if i := bytes.Index(r.Payload, old); i >= 0 {
			payload := bytes.Clone(r.Payload)
			copy(payload[i:], new)
			rec := wal.AppendRecord(nil, r.Segment, r.Txn, r.TS, r.Synced, payload)
			copy(data[off:], rec)
			f, err := fsys.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.Write(data); err != nil {
				return err
			}
			return f.Sync()
		}
		off += int64(n)
	}
	t.Fatalf("no record of %s holds %q", path, old)
	return nil
}

// TestReferenceModel_CatchesUnwrittenValue feeds the model a value the
// database never stored.
func TestReferenceModel_CatchesUnwrittenValue(t *testing.T) {
	db, err := inmem.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, _ := db.GetOrCreateRun("r")
	v, err := db.KVPut(run, "k", []byte("what was written"))
	if err != nil {
		t.Fatal(err)
	}
	m := crashtest.NewReferenceModel()
	op := m.Begin(crashtest.Op{Kind: crashtest.OpWrite, Writes: []crashtest.Write{crashtest.Put("r", "k", []byte("never written"))}})
	m.Ack(op, v-1, nil) // the run was created at v-1
	op2 := m.Begin(crashtest.Op{Kind: crashtest.OpWrite, Writes: []crashtest.Write{crashtest.Put("r", "k", []byte("never written"))}})
	m.Ack(op2, v, nil)
	ms := m.Compare(db, crashtest.Promise{Durability: inmem.Strict, Crash: crashtest.ProcessKill})
	if len(ms) == 0 {
		t.Fatal("the model accepted a value the database never stored")
	}
	t.Log(ms)
}

// TestReferenceModel_CatchesPhantomKey: a key in the database that no
// operation of the history wrote is a mismatch (the other direction).
func TestReferenceModel_CatchesPhantomKey(t *testing.T) {
	db, err := inmem.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := crashtest.NewReferenceModel()
	op := m.Begin(crashtest.Op{Kind: crashtest.OpWrite, Writes: []crashtest.Write{crashtest.Put("r", "k", []byte("v"))}})
	v, err := db.Commit(func(tx *inmem.Tx) error {
		id, err := tx.GetOrCreateRun("r")
		if err != nil {
			return err
		}
		return tx.KVPut(id, "k", []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Ack(op, v, nil)
	p := crashtest.Promise{Durability: inmem.Strict, Crash: crashtest.ProcessKill}
	if ms := m.Compare(db, p); len(ms) != 0 {
		t.Fatalf("an exact match was rejected: %v", ms)
	}
	// Same version count, different content: the model's history says v
	// wrote r/k, the database holds r/phantom at v+1 that nobody issued.
	run, _ := db.ResolveRun("r")
	if _, err := db.KVPut(run, "phantom", []byte("x")); err != nil {
		t.Fatal(err)
	}
	ms := m.Compare(db, p)
	if len(ms) == 0 {
		t.Fatal("a phantom key was accepted")
	}
	t.Log(ms)
}
