package inmem_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// The helpers below are shared by inspect_test.go and verify_test.go; their
// iv prefix keeps them apart from other test files' helpers.

// ivKey is a fixed AES-256 key for the encrypted-database tests.
var ivKey = bytes.Repeat([]byte{0x5a}, 32)

// ivBuild creates a database in dir holding run "r" with n KV puts, one
// delete, two events and a state cell, and closes it. It returns the last
// version.
func ivBuild(t *testing.T, dir string, opts *inmem.Options, n int) inmem.Version {
	t.Helper()
	db, err := inmem.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	last := ivFill(t, db, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return last
}

// ivBuildCrashed is ivBuild ending in a process crash instead of a Close:
// the database is built on a MemFS, and what the crash leaves is written
// into dir.
func ivBuildCrashed(t *testing.T, dir string, n int) inmem.Version {
	t.Helper()
	mem := vfs.NewMemFS()
	db, err := inmem.Open(dir, &inmem.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	last := ivFill(t, db, n)
	toDisk(t, crashed(t, db, mem), dir)
	return last
}

// toDisk writes the database in dir on mem into dir on the disk.
func toDisk(t *testing.T, mem *vfs.MemFS, dir string) {
	t.Helper()
	for _, sub := range []string{wal.DirName, snapshot.DirName} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, b := range files(t, mem, dir) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ivFill writes ivBuild's history and returns the last version.
func ivFill(t *testing.T, db *inmem.DB, n int) inmem.Version {
	t.Helper()
	id, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := db.KVPut(id, fmt.Sprintf("k%d", i%5), fmt.Appendf(nil, "value-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.KVDelete(id, "k0"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"e0", "e1"} {
		if _, err := db.EventAppend(id, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.StateSet(id, "cell", []byte("on")); err != nil {
		t.Fatal(err)
	}
	return db.LastVersion()
}

// ivTree returns every file under dir with its content.
func ivTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ivSame fails the test unless dir holds exactly the files of before.
func ivSame(t *testing.T, dir string, before map[string][]byte) {
	t.Helper()
	after := ivTree(t, dir)
	for p, b := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s disappeared", p)
		} else if !bytes.Equal(a, b) {
			t.Errorf("%s changed: %d bytes before, %d after", p, len(b), len(a))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared", p)
		}
	}
}

// ivSegment returns the path of segment n of the database in dir.
func ivSegment(dir string, n int) string {
	return filepath.Join(dir, "WAL", fmt.Sprintf("wal-%06d.seg", n))
}

// ivRecords returns the offset of every record of a segment, from the
// length prefixes (the segment header is 32 bytes).
func ivRecords(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(32); off+4 <= int64(len(data)); {
		n := int64(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 {
			break // the zeros written ahead of the log
		}
		offs = append(offs, off)
		off += 4 + n
	}
	return offs
}

// ivFlip flips a bit of the byte at off in path.
func ivFlip(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0x10
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInspect_Clean(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := ivBuild(t, dir, nil, 10)
	before := ivTree(t, dir)
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ivSame(t, dir, before)
	if r.Manifest == nil || r.Manifest.Codec != "identity" || r.Manifest.ActiveSegment != 1 || r.Manifest.SnapshotID != 0 {
		t.Fatalf("manifest = %+v (error %q)", r.Manifest, r.ManifestError)
	}
	if len(r.Manifest.UUID) != 32 || !r.CodecMatches {
		t.Errorf("uuid %q, codec matches %v", r.Manifest.UUID, r.CodecMatches)
	}
	if len(r.Segments) != 1 {
		t.Fatalf("segments = %+v", r.Segments)
	}
	s := r.Segments[0]
	if s.Num != 1 || s.FirstTxn != 1 || s.LastTxn != last || s.Records != int(last) || s.ValidEnd > s.Size || s.Damage != "" {
		t.Errorf("segment = %+v, want txns 1..%d", s, last)
	}
	if r.LastTxn != last || r.Tail.State != inmem.TailClean || r.Tail.String() != "clean" || r.Corruption != nil {
		t.Errorf("last %d tail %v corruption %v, want %d clean", r.LastTxn, r.Tail, r.Corruption, last)
	}
	if r.Reclaimable != 0 || len(r.Snapshots) != 0 || len(r.TempFiles) != 0 {
		t.Errorf("reclaimable %d, snapshots %v, temps %v", r.Reclaimable, r.Snapshots, r.TempFiles)
	}
}

// checkpointed builds a database over several segments with two
// checkpoints: segments before the last checkpoint and the first snapshot
// are reclaimable.
func checkpointed(t *testing.T, dir string, opts *inmem.Options) inmem.Version {
	t.Helper()
	o := inmem.Options{SegmentSize: 4096}
	if opts != nil {
		o = *opts
		o.SegmentSize = 4096
	}
	db, err := inmem.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i := range 100 {
			if _, err := db.KVPut(id, fmt.Sprintf("k%d", i), bytes.Repeat([]byte{'x'}, 20+round)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.KVPut(id, "after", []byte("checkpoint")); err != nil {
		t.Fatal(err)
	}
	last := db.LastVersion()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return last
}

func TestInspect_Reclaimable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := checkpointed(t, dir, nil)
	tmp := filepath.Join(dir, "SNAPSHOTS", "snap-000009.chk.tmp")
	if err := os.WriteFile(tmp, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest
	if m == nil || m.SnapshotID != 2 || m.ActiveSegment < 2 || r.LastTxn != last || r.Tail.State != inmem.TailClean {
		t.Fatalf("manifest %+v, last %d, tail %v", m, r.LastTxn, r.Tail)
	}
	var want int64
	for _, s := range r.Snapshots {
		if s.Current != (s.ID == 2) || !s.Checked || s.Damage != "" || s.Size == 0 {
			t.Errorf("snapshot %+v", s)
		}
		if !s.Current {
			want += s.Size
		}
	}
	if len(r.Snapshots) != 2 {
		t.Errorf("snapshots = %+v, want 2", r.Snapshots)
	}
	if s := r.Snapshots[1]; s.Watermark != m.Watermark {
		t.Errorf("current snapshot watermark %d, MANIFEST %d", s.Watermark, m.Watermark)
	}
	prevLast := inmem.Version(0)
	for _, s := range r.Segments {
		if s.Obsolete != (s.Num < m.ActiveSegment) || s.Damage != "" || s.FirstTxn != prevLast+1 {
			t.Errorf("segment %+v after txn %d (active %d)", s, prevLast, m.ActiveSegment)
		}
		if s.Obsolete {
			want += s.Size
		}
		prevLast = s.LastTxn
	}
	if len(r.TempFiles) != 1 || r.TempFiles[0].Path != tmp {
		t.Errorf("temp files = %+v", r.TempFiles)
	}
	want += r.TempFiles[0].Size
	if r.Reclaimable != want || want == 0 {
		t.Errorf("reclaimable = %d, want %d", r.Reclaimable, want)
	}
	compactAndCheck(t, dir)
}

// compactAndCheck compacts dir and checks Inspect then finds nothing to
// reclaim.
func compactAndCheck(t *testing.T, dir string) {
	t.Helper()
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(inmem.CompactWALOnly); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reclaimable != 0 || len(r.Snapshots) != 1 || len(r.TempFiles) != 0 {
		t.Errorf("after Compact: reclaimable %d, snapshots %+v, temps %+v", r.Reclaimable, r.Snapshots, r.TempFiles)
	}
}

func TestInspect_TornTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := ivBuildCrashed(t, dir, 10)
	seg := ivSegment(dir, 1)
	offs := ivRecords(t, seg)
	cut := offs[len(offs)-1]
	if err := os.Truncate(seg, cut+7); err != nil {
		t.Fatal(err)
	}
	before := ivTree(t, dir)
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ivSame(t, dir, before)
	want := inmem.TailStatus{State: inmem.TailTorn, File: seg, Offset: cut, Bytes: 7, Reason: r.Tail.Reason}
	if r.Tail != want || r.Corruption != nil {
		t.Fatalf("tail = %+v, corruption %v; want %+v", r.Tail, r.Corruption, want)
	}
	if s := r.Tail.String(); !strings.Contains(s, fmt.Sprintf("torn at offset %d of %s", cut, seg)) {
		t.Errorf("tail string %q", s)
	}
	if r.LastTxn != last-1 || r.Segments[0].LastTxn != last-1 || r.Segments[0].ValidEnd != cut {
		t.Errorf("last txn %d, segment %+v; want %d ending at %d", r.LastTxn, r.Segments[0], last-1, cut)
	}
}

func TestInspect_CorruptMiddleRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ivBuild(t, dir, nil, 10)
	seg := ivSegment(dir, 1)
	offs := ivRecords(t, seg)
	bad := offs[len(offs)/2]
	ivFlip(t, seg, bad+20)
	before := ivTree(t, dir)
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ivSame(t, dir, before)
	if r.Tail.State != inmem.TailCorrupt || r.Tail.File != seg || r.Tail.Offset != bad {
		t.Fatalf("tail = %+v, want corrupt at %s offset %d", r.Tail, seg, bad)
	}
	if !strings.Contains(r.Tail.String(), fmt.Sprintf("corrupt at file %s offset %d: record checksum mismatch", seg, bad)) {
		t.Errorf("tail string %q", r.Tail.String())
	}
	if c := r.Corruption; c == nil || c.File != seg || c.Offset != bad || !errors.Is(c, inmem.ErrCorrupt) {
		t.Errorf("corruption = %v", c)
	}
}

func TestInspect_Encrypted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := checkpointed(t, dir, &inmem.Options{EncryptionKey: ivKey})
	before := ivTree(t, dir)
	tcs := []struct {
		name    string
		opts    *inmem.Options
		matches bool
	}{
		{"key", &inmem.Options{EncryptionKey: ivKey}, true},
		{"no key", nil, false},
		{"wrong key", &inmem.Options{EncryptionKey: bytes.Repeat([]byte{1}, 32)}, false},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			r, err := inmem.Inspect(dir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ivSame(t, dir, before)
			if r.CodecMatches != tc.matches || !strings.HasPrefix(r.Manifest.Codec, "aes-256-gcm:") {
				t.Errorf("codec %q matches %v, want %v", r.Manifest.Codec, r.CodecMatches, tc.matches)
			}
			for _, s := range r.Snapshots {
				if s.Checked != tc.matches || s.Damage != "" {
					t.Errorf("snapshot %+v: checked should be %v", s, tc.matches)
				}
			}
			if r.LastTxn != last || r.Tail.State != inmem.TailClean || r.Corruption != nil {
				t.Errorf("last %d tail %v corruption %v", r.LastTxn, r.Tail, r.Corruption)
			}
		})
	}
}

func TestInspect_DamagedSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	checkpointed(t, dir, nil)
	snap := filepath.Join(dir, "SNAPSHOTS", "snap-000002.chk")
	ivFlip(t, snap, 100)
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cur := r.Snapshots[1]
	if !cur.Current || cur.Checked || !strings.Contains(cur.Damage, "checksum mismatch") {
		t.Errorf("current snapshot = %+v", cur)
	}
	if c := r.Corruption; c == nil || c.File != snap {
		t.Errorf("corruption = %v, want in %s", c, snap)
	}
	if msg := r.Corruption.Error(); strings.Count(msg, "corruption in") != 1 || strings.Count(cur.Damage, snap) != 0 {
		t.Errorf("the damage repeats itself: %q; snapshot damage %q", msg, cur.Damage)
	}
}

func TestInspect_MissingManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	last := ivBuild(t, dir, nil, 3)
	if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifest != nil || r.ManifestError == "" || r.Corruption == nil || r.Corruption.File != filepath.Join(dir, "MANIFEST") {
		t.Errorf("manifest %+v (%q), corruption %v", r.Manifest, r.ManifestError, r.Corruption)
	}
	if len(r.Segments) != 1 || r.Segments[0].LastTxn != last || r.LastTxn != last {
		t.Errorf("segments %+v, last %d; want the log read from its first segment", r.Segments, r.LastTxn)
	}
}

func TestInspect_DamagedManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ivBuild(t, dir, nil, 3)
	ivFlip(t, filepath.Join(dir, "MANIFEST"), 10)
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifest != nil || !strings.Contains(r.ManifestError, "checksum mismatch") || r.Corruption == nil {
		t.Errorf("manifest %+v (%q), corruption %v", r.Manifest, r.ManifestError, r.Corruption)
	}
}

func TestInspect_NoDatabase(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "absent")} {
		_, err := inmem.Inspect(dir, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Inspect(%s) = %v, want fs.ErrNotExist", dir, err)
		}
	}
}

// segmented builds a database whose log spans at least four segments.
func segmented(t *testing.T, dir string) {
	t.Helper()
	db, err := inmem.Open(dir, &inmem.Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := db.KVPut(id, fmt.Sprintf("k%d", i), bytes.Repeat([]byte{'x'}, 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ivSegment(dir, 4)); err != nil {
		t.Fatalf("want at least 4 segments: %v", err)
	}
}

func TestInspect_MissingMiddleSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	segmented(t, dir)
	if err := os.Remove(ivSegment(dir, 2)); err != nil {
		t.Fatal(err)
	}
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tail.State != inmem.TailCorrupt || r.Tail.File != ivSegment(dir, 2) || r.Tail.Offset != -1 ||
		!strings.Contains(r.Tail.String(), "segment 2 is missing") {
		t.Errorf("tail = %+v (%s)", r.Tail, r.Tail)
	}
	if r.Segments[0].Num != 1 || r.Segments[0].AfterDamage || r.LastTxn != r.Segments[0].LastTxn {
		t.Errorf("first segment %+v, last txn %d", r.Segments[0], r.LastTxn)
	}
	for _, s := range r.Segments[1:] {
		if !s.AfterDamage || s.Records == 0 || s.Damage != "" {
			t.Errorf("segment after the gap: %+v", s)
		}
	}
}

func TestInspect_TornSegmentHeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	// A rotation cut short: a crash as the fourth segment is created, which
	// keeps part of its header.
	mem := vfs.NewMemFS()
	cp := crashpoint.New()
	var crash *vfs.MemFS
	cp.Arm(crashpoint.OnHit(crashpoint.DuringSegmentRotation, 4), func(crashpoint.Point) { // hit 1 creates segment 1
		crash = mem.Crash(vfs.CrashPolicy{Mode: vfs.KeepUnsynced})
	})
	db, err := inmem.Open(dir, &inmem.Options{FS: mem, SegmentSize: 4096, CrashPoints: cp})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := db.CreateRun("r")
	for i := 0; crash == nil; i++ {
		if _, err := db.KVPut(id, fmt.Sprintf("k%d", i), bytes.Repeat([]byte{'x'}, 20)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	last := ivSegment(dir, 4)
	if err := crash.Truncate(last, 10); err != nil {
		t.Fatal(err)
	}
	toDisk(t, crash, dir)
	before := ivTree(t, dir)
	r, err := inmem.Inspect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tail.State != inmem.TailTorn || !r.Tail.HeaderTorn || r.Tail.File != last || r.Tail.Bytes != 10 || r.Corruption != nil {
		t.Errorf("tail = %+v", r.Tail)
	}
	v, err := inmem.Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !v.TornTail || !v.HeaderTorn || v.TornSegment != last || v.LastVersion != r.LastTxn {
		t.Errorf("verify = %+v, inspect last txn %d", *v, r.LastTxn)
	}
	ivSame(t, dir, before)
}

// TestInspect_CreationCutShort: a creation cut short is no database yet,
// for Inspect as for Verify: both say so with ErrNotDatabase.
func TestInspect_CreationCutShort(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ivBuild(t, dir, nil, 1)
	seg := ivSegment(dir, 1)
	// Segment 1 with its header only and no MANIFEST: what a crash during
	// the creation of a database leaves.
	for _, err := range []error{os.Truncate(seg, 32), os.Remove(filepath.Join(dir, "MANIFEST"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	_, ierr := inmem.Inspect(dir, nil)
	_, verr := inmem.Verify(dir, nil)
	for what, err := range map[string]error{"Inspect": ierr, "Verify": verr} {
		if !errors.Is(err, inmem.ErrNotDatabase) || !strings.Contains(err.Error(), "creation was cut short") {
			t.Errorf("%s = %v, want ErrNotDatabase: a creation cut short", what, err)
		}
	}
}
