package inmem_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/in-mem/inmem"
)

func TestVerify_Clean(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := ivBuild(t, dir, nil, 10)
	before := ivTree(t, dir)
	r, err := inmem.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ivSame(t, dir, before)
	// 10 puts over k0..k4 plus the delete of k0: 5 keys, 11 versions.
	want := inmem.VerifyReport{Dir: dir, Segments: 1, Records: int(last), Runs: 1, Keys: 5, Versions: 11,
		Events: 2, Cells: 1, LastVersion: last, Duration: r.Duration}
	if *r != want {
		t.Errorf("report = %+v\nwant     %+v", *r, want)
	}
}

func TestVerify_Checkpointed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := checkpointed(t, dir, nil)
	r, err := inmem.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.SnapshotID != 2 || r.Watermark != last-1 || r.Records != 1 || r.Keys != 101 || r.Versions != 201 || r.LastVersion != last {
		t.Errorf("report = %+v", *r)
	}
}

func TestVerify_TornTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := ivBuildCrashed(t, dir, 10)
	seg := ivSegment(dir, 1)
	offs := ivRecords(t, seg)
	cut := offs[len(offs)-1]
	if err := os.Truncate(seg, cut+9); err != nil {
		t.Fatal(err)
	}
	before := ivTree(t, dir)
	r, err := inmem.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ivSame(t, dir, before)
	if !r.TornTail || r.TornSegment != seg || r.TornOffset != cut || r.TornBytes != 9 || r.LastVersion != last-1 {
		t.Errorf("report = %+v; want a torn tail of 9 bytes at %d of %s, last %d", *r, cut, seg, last-1)
	}
}

func TestVerify_CorruptMiddleRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ivBuild(t, dir, nil, 10)
	seg := ivSegment(dir, 1)
	offs := ivRecords(t, seg)
	bad := offs[len(offs)/2]
	ivFlip(t, seg, bad+30)
	before := ivTree(t, dir)
	_, err := inmem.Verify(dir, nil)
	ivSame(t, dir, before)
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, inmem.ErrCorrupt) {
		t.Fatalf("Verify = %v, want a *CorruptionError", err)
	}
	if ce.File != seg || ce.Offset != bad || ce.Reason == "" {
		t.Errorf("corruption at %s offset %d (%s), want %s offset %d", ce.File, ce.Offset, ce.Reason, seg, bad)
	}
}

func TestVerify_Encrypted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := checkpointed(t, dir, &inmem.Options{EncryptionKey: ivKey})
	before := ivTree(t, dir)
	r, err := inmem.Verify(dir, &inmem.Options{EncryptionKey: ivKey})
	if err != nil {
		t.Fatal(err)
	}
	if r.LastVersion != last || r.Keys != 101 {
		t.Errorf("report = %+v", *r)
	}
	for _, opts := range []*inmem.Options{nil, {EncryptionKey: bytes.Repeat([]byte{1}, 32)}} {
		if _, err := inmem.Verify(dir, opts); !errors.Is(err, inmem.ErrCodecMismatch) {
			t.Errorf("Verify without the right key = %v, want ErrCodecMismatch", err)
		}
	}
	ivSame(t, dir, before)
}

func TestVerify_NoDatabase(t *testing.T) {
	dir := t.TempDir()
	if _, err := inmem.Verify(dir, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Verify(empty dir) = %v, want fs.ErrNotExist", err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("Verify created %v", names)
	}
}

func TestVerify_MissingManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ivBuild(t, dir, nil, 3)
	if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	_, err := inmem.Verify(dir, nil)
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || ce.File != filepath.Join(dir, "MANIFEST") {
		t.Errorf("Verify = %v, want corruption naming the MANIFEST", err)
	}
}

func TestVerify_Locked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := inmem.Verify(dir, nil); !errors.Is(err, inmem.ErrLocked) {
		t.Errorf("Verify of an open database = %v, want ErrLocked", err)
	}
}

func TestVerify_DamagedSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	checkpointed(t, dir, nil)
	snap := filepath.Join(dir, "SNAPSHOTS", "snap-000002.chk")
	ivFlip(t, snap, 100)
	before := ivTree(t, dir)
	_, err := inmem.Verify(dir, nil)
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || ce.File != snap {
		t.Errorf("Verify = %v, want corruption in %s", err, snap)
	}
	ivSame(t, dir, before)
}
