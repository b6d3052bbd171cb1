package inmem_test

import (
	"errors"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// TestParseRetentionPolicy is a table test of ParseRetentionPolicy.
func TestParseRetentionPolicy(t *testing.T) {
	tcs := []struct {
		name string
		in   string
		want string // the policy's String, "" for an error
	}{
		{"all", "all", "keep-all"},
		{"keep-all", "keep-all", "keep-all"},
		{"last", "last:3", "keep-last(3)"},
		{"last one", "last:1", "keep-last(1)"},
		{"last zero", "last:0", ""},
		{"last negative", "last:-2", ""},
		{"last trailing", "last:3x", ""},
		{"last empty", "last:", ""},
		{"for", "for:90m", "keep-for(1h30m0s)"},
		{"for zero", "for:0s", ""},
		{"for negative", "for:-1h", ""},
		{"for bad", "for:soon", ""},
		{"for trailing", "for:1h later", ""},
		{"empty", "", ""},
		{"unknown", "forever", ""},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			p, err := inmem.ParseRetentionPolicy(tc.in)
			if tc.want == "" {
				if !errors.Is(err, inmem.ErrInvalid) {
					t.Fatalf("ParseRetentionPolicy(%q) = %v, %v; want ErrInvalid", tc.in, p, err)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Fatalf("ParseRetentionPolicy(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
			}
		})
	}
}

// TestDB_SetRetentionPolicy_Versioned checks that policy changes are
// versioned writes: each gets a new version, the latest wins, invalid ones
// are refused, and they survive reopen from the log and from a snapshot.
func TestDB_SetRetentionPolicy_Versioned(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, _ := db.CreateRun("r")
	other, _ := db.CreateRun("other")
	if p, err := db.GetRetentionPolicy(run); err != nil || p.String() != "keep-all" {
		t.Fatalf("default policy = %v, %v; want keep-all", p, err)
	}
	var last inmem.Version
	for _, p := range []inmem.RetentionPolicy{inmem.KeepLast(3), inmem.KeepFor(time.Hour), inmem.KeepLast(2)} {
		v, err := db.SetRetentionPolicy(run, p)
		if err != nil || v <= last {
			t.Fatalf("SetRetentionPolicy(%v) = %d, %v; want a version above %d", p, v, err, last)
		}
		last = v
	}
	for _, bad := range []inmem.RetentionPolicy{inmem.KeepLast(0), inmem.KeepLast(-1), inmem.KeepFor(0), inmem.KeepFor(-time.Second)} {
		if _, err := db.SetRetentionPolicy(run, bad); !errors.Is(err, inmem.ErrInvalid) {
			t.Errorf("SetRetentionPolicy(%v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := db.SetRetentionPolicy(inmem.RunID{1}, inmem.KeepAll()); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Errorf("SetRetentionPolicy on a missing run = %v, want ErrRunNotFound", err)
	}
	if db.LastVersion() != last {
		t.Fatalf("refused policies moved the version to %d", db.LastVersion())
	}
	check := func(what string) {
		t.Helper()
		if p, err := db.GetRetentionPolicy(run); err != nil || p.String() != "keep-last(2)" {
			t.Fatalf("%s: policy = %v, %v; want keep-last(2)", what, p, err)
		}
		if p, _ := db.GetRetentionPolicy(other); p.String() != "keep-all" {
			t.Fatalf("%s: the other run's policy = %v", what, p)
		}
	}
	check("live")
	db.Close()
	db = openMem(t, mem, nil)
	check("reopen from the log")
	db.Checkpoint()
	db.Compact(inmem.CompactWALOnly)
	db.Close()
	db = openMem(t, mem, nil)
	check("reopen from a snapshot")
	// A later change takes effect at the next full compaction.
	for i := range 4 {
		db.KVPut(run, "k", []byte{byte(i)})
	}
	db.SetRetentionPolicy(run, inmem.KeepAll())
	if info, _ := db.Compact(inmem.CompactFull); info.VersionsRemoved != 0 {
		t.Fatalf("KeepAll compaction removed %d versions", info.VersionsRemoved)
	}
	db.SetRetentionPolicy(run, inmem.KeepLast(2))
	if info, _ := db.Compact(inmem.CompactFull); info.VersionsRemoved != 2 {
		t.Fatalf("KeepLast(2) compaction removed %d versions, want 2", info.VersionsRemoved)
	}
	db.Close()
}

// TestTx_SetRetentionPolicy_WithWrites checks that a policy set in a
// transaction with other writes commits with them, and is aborted with
// them.
func TestTx_SetRetentionPolicy_WithWrites(t *testing.T) {
	db, _ := newTestDB(t, nil)
	run, _ := db.CreateRun("r")
	err := db.Update(func(tx *inmem.Tx) error {
		if err := tx.SetRetentionPolicy(run, inmem.KeepLast(1)); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if p, _ := db.GetRetentionPolicy(run); p.String() != "keep-all" {
		t.Fatalf("an aborted policy change took effect: %v", p)
	}
	v, err := db.Commit(func(tx *inmem.Tx) error {
		if err := tx.KVPut(run, "k", nil); err != nil {
			return err
		}
		return tx.SetRetentionPolicy(run, inmem.KeepLast(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := db.GetRetentionPolicy(run); p.String() != "keep-last(1)" || mustGet(t, db, run, "k").Version != v {
		t.Fatalf("policy %v after the commit", p)
	}
}
