package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/in-mem/inmem/internal/testutil"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

var (
	update = testutil.Update
)

func testSeed(t *testing.T) uint64 { return testutil.Seed(t, "./internal/manifest") }

var testUUID = [16]byte{0x69, 0x6e, 0x2d, 0x6d, 0x65, 0x6d, 0xaa, 0xbb, 0, 1, 2, 3, 4, 5, 6, 7}

func testManifests() []Manifest {
	return []Manifest{
		{UUID: testUUID, CodecID: "identity", ActiveSegment: 1, LogEnd: LogEnd{1, 32, 0}},
		{UUID: testUUID, CodecID: "aes-256-gcm:0011aabb", ActiveSegment: 7, SnapshotID: 3, Watermark: 1234, LogEnd: LogEnd{9, 4096, 1300}},
		{UUID: [16]byte{}, CodecID: "", ActiveSegment: 1, LogEnd: LogEnd{1, 32, 0}},
		{UUID: testUUID, CodecID: strings.Repeat("c", maxCodecID), ActiveSegment: ^uint64(0), SnapshotID: ^uint64(0), Watermark: ^uint64(0),
			LogEnd: LogEnd{^uint64(0), 1<<63 - 1, ^uint64(0)}},
		{UUID: testUUID, CodecID: "identity", ActiveSegment: 2, SnapshotID: 1, Watermark: 0, LogEnd: LogEnd{2, 32, 0}},
	}
}

// encodeV1 encodes m in format version 1, which had no log end.
func encodeV1(m Manifest) []byte {
	b := append([]byte(nil), magic[:]...)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, m.UUID[:]...)
	b = binary.LittleEndian.AppendUint64(b, m.ActiveSegment)
	b = binary.LittleEndian.AppendUint64(b, m.SnapshotID)
	b = binary.LittleEndian.AppendUint64(b, m.Watermark)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.CodecID)))
	b = append(b, m.CodecID...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// TestDecode_V1: a version 1 MANIFEST reads with no log end.
func TestDecode_V1(t *testing.T) {
	for _, m := range testManifests() {
		m.LogEnd = LogEnd{}
		got, err := Decode("MANIFEST", encodeV1(m))
		if err != nil || got != m || got.LogEnd.Known() {
			t.Fatalf("Decode(encodeV1(%+v)) = %+v, %v", m, got, err)
		}
	}
}

func TestLogEnd_Before(t *testing.T) {
	order := []LogEnd{{}, {1, 32, 0}, {1, 32, 5}, {1, 100, 5}, {2, 32, 5}, {2, 32, 6}, {3, 0, 0}}
	for i, a := range order {
		for j, b := range order {
			if a.Before(b) != (i < j) {
				t.Errorf("%+v.Before(%+v) = %v", a, b, a.Before(b))
			}
		}
	}
}

func TestManifest_RoundTrip(t *testing.T) {
	for _, m := range testManifests() {
		b := Encode(m)
		if len(b) != fixedSize+len(m.CodecID)+4 {
			t.Fatalf("encoded %d bytes, want %d", len(b), fixedSize+len(m.CodecID)+4)
		}
		got, err := Decode("MANIFEST", b)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", m, err)
		}
		if got != m {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
	}
}

// TestManifest_Layout pins the field offsets of the package doc.
func TestManifest_Layout(t *testing.T) {
	m := Manifest{UUID: testUUID, CodecID: "id", ActiveSegment: 0x0a, SnapshotID: 0x0b, Watermark: 0x0c, LogEnd: LogEnd{0x0d, 0x0e, 0x0f}}
	b := Encode(m)
	le := binary.LittleEndian
	switch {
	case string(b[:4]) != "IMMF":
		t.Errorf("magic %q", b[:4])
	case le.Uint32(b[4:]) != FormatVersion || FormatVersion != 2:
		t.Errorf("version %d", le.Uint32(b[4:]))
	case [16]byte(b[8:24]) != testUUID:
		t.Errorf("uuid % x", b[8:24])
	case le.Uint64(b[24:]) != 0x0a || le.Uint64(b[32:]) != 0x0b || le.Uint64(b[40:]) != 0x0c:
		t.Errorf("segment/snapshot/watermark misplaced: % x", b[24:48])
	case le.Uint64(b[48:]) != 0x0d || le.Uint64(b[56:]) != 0x0e || le.Uint64(b[64:]) != 0x0f:
		t.Errorf("log end misplaced: % x", b[48:72])
	case le.Uint16(b[72:]) != 2 || string(b[74:76]) != "id":
		t.Errorf("codec id misplaced: % x", b[72:76])
	case le.Uint32(b[76:]) != crc32.Checksum(b[:76], crc32.MakeTable(crc32.Castagnoli)):
		t.Errorf("CRC is not CRC-32C of every earlier byte")
	}
}

// reseal recomputes the CRC after a test changed a field.
func reseal(b []byte) []byte {
	body := len(b) - 4
	binary.LittleEndian.PutUint32(b[body:], crc32.Checksum(b[:body], crcTable))
	return b
}

func checkCorrupt(t *testing.T, err error, path string) *base.CorruptionError {
	t.Helper()
	var cerr *base.CorruptionError
	if !errors.As(err, &cerr) || !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("error %v (%T) is not a *base.CorruptionError", err, err)
	}
	if cerr.File != path {
		t.Fatalf("corruption names %q, want %q", cerr.File, path)
	}
	return cerr
}

// goodManifest is the encoding the rejection tests damage; a fresh copy on
// every call.
func goodManifest() []byte {
	return Encode(Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 3, SnapshotID: 2, Watermark: 9, LogEnd: LogEnd{4, 100, 12}})
}

// mutated is goodManifest changed by f.
func mutated(f func(b []byte) []byte) []byte { return f(goodManifest()) }

// resealedU64 is goodManifest with the uint64 at off set to v and the CRC
// recomputed, so that only the field's meaning is wrong.
func resealedU64(off int, v uint64) []byte {
	return mutated(func(b []byte) []byte {
		binary.LittleEndian.PutUint64(b[off:], v)
		return reseal(b)
	})
}

// rejectCase is a MANIFEST Decode must refuse, with the reason and offset
// its CorruptionError must name.
type rejectCase struct {
	name   string
	b      []byte
	reason string
	off    int64
}

// runDecodeRejects checks that Decode refuses each case with a
// CorruptionError naming its reason and offset, and returns no Manifest.
func runDecodeRejects(t *testing.T, tcs []rejectCase) {
	t.Helper()
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode("db/MANIFEST", tc.b)
			cerr := checkCorrupt(t, err, "db/MANIFEST")
			if !strings.Contains(cerr.Reason, tc.reason) || cerr.Offset != tc.off {
				t.Fatalf("corruption %v, want reason %q at offset %d", cerr, tc.reason, tc.off)
			}
			if m != (Manifest{}) {
				t.Fatalf("failed decode returned %+v", m)
			}
		})
	}
}

// TestDecode_RejectsSize: a MANIFEST cut short or with bytes added, of
// either format version, is corruption.
func TestDecode_RejectsSize(t *testing.T) {
	good := goodManifest()
	runDecodeRejects(t, []rejectCase{
		{"empty", nil, "cut short", 0},
		{"fixed part only", good[:fixedSize], "cut short", fixedSize},
		{"last byte missing", good[:len(good)-1], "does not match codec id length", 72},
		{"extra byte", append(bytes.Clone(good), 0), "does not match codec id length", 72},
		{"version 1 cut short", encodeV1(Manifest{UUID: testUUID, ActiveSegment: 1})[:40], "cut short", 40},
	})
}

// TestDecode_RejectsCodecIDLength: a codec id length that does not match
// the bytes after it, or above the limit, is corruption at that field.
func TestDecode_RejectsCodecIDLength(t *testing.T) {
	runDecodeRejects(t, []rejectCase{
		{"codec id length too long", mutated(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[72:], uint16(len("identity")+1))
			return reseal(b)
		}), "does not match", 72},
		{"codec id length too short", mutated(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[72:], 0)
			return b
		}), "does not match", 72},
		{"codec id length above the limit",
			Encode(Manifest{UUID: testUUID, ActiveSegment: 1, CodecID: strings.Repeat("x", 300), LogEnd: LogEnd{1, 32, 0}}),
			"does not match", 72},
	})
}

// TestDecode_RejectsDamage: a bad magic, a CRC that does not match, a
// flipped bit and an unknown format version are corruption.
func TestDecode_RejectsDamage(t *testing.T) {
	crcOff := int64(len(goodManifest()) - 4)
	runDecodeRejects(t, []rejectCase{
		{"bad magic", mutated(func(b []byte) []byte { b[3] = 'X'; return b }), "magic", 0},
		{"zeros", make([]byte, len(goodManifest())), "magic", 0},
		{"bad CRC", mutated(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), "checksum", crcOff},
		{"flipped watermark", mutated(func(b []byte) []byte { b[40] ^= 1; return b }), "checksum", crcOff},
		{"version 3", mutated(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[4:], 3)
			return reseal(b)
		}), "version 3", 4},
	})
}

// TestDecode_RejectsFields: a well-sealed MANIFEST whose fields contradict
// each other (a log end before the active segment, inside a segment header
// or below the watermark, active segment 0, a watermark without a
// snapshot) is corruption at the field.
func TestDecode_RejectsFields(t *testing.T) {
	runDecodeRejects(t, []rejectCase{
		{"log end before the active segment", resealedU64(48, 2), "before the active segment", 48},
		{"log end inside a segment header", resealedU64(56, 31), "inside a segment header", 56},
		{"log end offset negative", resealedU64(56, 1<<63), "inside a segment header", 56},
		{"log end below the watermark", resealedU64(64, 8), "below the watermark", 64},
		{"active segment 0", resealedU64(24, 0), "active segment 0", 24},
		{"watermark without snapshot", resealedU64(32, 0), "no snapshot", 32},
	})
}

// TestDecode_EveryDamage: every truncation, every single-bit flip and every
// one-byte extension of a MANIFEST is a CorruptionError, never a panic and
// never a different MANIFEST.
func TestDecode_EveryDamage(t *testing.T) {
	good := Encode(Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 3, SnapshotID: 2, Watermark: 9, LogEnd: LogEnd{3, 32, 9}})
	for n := range len(good) {
		_, err := Decode("M", good[:n])
		checkCorrupt(t, err, "M")
	}
	for i := range len(good) * 8 {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		_, err := Decode("M", b)
		checkCorrupt(t, err, "M")
	}
	for c := range 256 {
		_, err := Decode("M", append(bytes.Clone(good), byte(c)))
		checkCorrupt(t, err, "M")
	}
}

func newDir(t *testing.T) *vfs.MemFS {
	t.Helper()
	fsys := vfs.NewMemFS()
	if err := fsys.MkdirAll("db"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.SyncDir(fsys, "."); err != nil {
		t.Fatal(err)
	}
	return fsys
}

func TestWrite_Read(t *testing.T) {
	fsys := newDir(t)
	if _, err := Read(fsys, "db"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing MANIFEST = %v, want not-exist", err)
	}
	for _, m := range testManifests() {
		renamed, err := Write(fsys, "db", m, nil, crashpoint.DuringManifestUpdate)
		if err != nil || !renamed {
			t.Fatalf("Write: %v, %v", renamed, err)
		}
		got, err := Read(fsys, "db")
		if err != nil || got != m {
			t.Fatalf("Read = %+v, %v; want %+v", got, err, m)
		}
	}
	// A stale temp file is ignored.
	f, err := fsys.Create("db/" + TempName)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("stale garbage"))
	f.Close()
	if _, err := Read(fsys, "db"); err != nil {
		t.Fatalf("Read with a stale %s: %v", TempName, err)
	}
	if names, _ := fsys.List("db"); len(names) != 2 {
		t.Fatalf("files %v", names)
	}
	// A damaged MANIFEST reads as corruption naming it.
	f, _ = fsys.Create("db/" + FileName)
	f.Write([]byte("not a manifest"))
	f.Close()
	_, err = Read(fsys, "db")
	checkCorrupt(t, err, filepath.Join("db", FileName))
}

func TestWrite_CodecIDTooLong(t *testing.T) {
	fsys := newDir(t)
	_, err := Write(fsys, "db", Manifest{UUID: testUUID, ActiveSegment: 1, CodecID: strings.Repeat("x", maxCodecID+1)}, nil, crashpoint.DuringManifestUpdate)
	if err == nil {
		t.Fatalf("Write accepted a %d-byte codec id", maxCodecID+1)
	}
	if names, _ := fsys.List("db"); len(names) != 0 {
		t.Fatalf("a refused Write left %v", names)
	}
}

// crashPolicies are the policies the crash tests clone with: the two fixed
// ones and n seeded random ones.
func crashPolicies(seed uint64, n int) []vfs.CrashPolicy {
	ps := []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}}
	for i := range n {
		ps = append(ps, vfs.CrashPolicy{Mode: vfs.RandomUnsynced, Seed: seed + uint64(i)})
	}
	return ps
}

// checkOldOrNew: after a crash the directory holds the old or the new
// MANIFEST, whole.
func checkOldOrNew(t *testing.T, c *vfs.MemFS, old *Manifest, new Manifest, what string) string {
	t.Helper()
	got, err := Read(c, "db")
	switch {
	case errors.Is(err, fs.ErrNotExist) && old == nil:
		return "none"
	case err != nil:
		t.Fatalf("%s: Read: %v", what, err)
	case got == new:
		return "new"
	case old != nil && got == *old:
		return "old"
	default:
		t.Fatalf("%s: MANIFEST is %+v, neither old %+v nor new %+v", what, got, old, new)
	}
	return ""
}

// TestWrite_CrashAtPoints: a power loss at either DuringManifestUpdate hit,
// under every policy, leaves the old or the new MANIFEST; after Write
// returns, the new one.
func TestWrite_CrashAtPoints(t *testing.T) {
	seed := testSeed(t)
	old := Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 1, LogEnd: LogEnd{1, 32, 0}}
	new := Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 2, SnapshotID: 1, Watermark: 10, LogEnd: LogEnd{2, 32, 10}}
	for _, first := range []bool{false, true} {
		for hit := uint64(1); hit <= 2; hit++ {
			fsys := newDir(t)
			var oldp *Manifest
			if !first {
				if _, err := Write(fsys, "db", old, nil, crashpoint.DuringManifestUpdate); err != nil {
					t.Fatal(err)
				}
				oldp = &old
			}
			cps := crashpoint.New()
			var clones []*vfs.MemFS
			policies := crashPolicies(seed, 200)
			cps.Arm(crashpoint.OnHit(crashpoint.DuringManifestUpdate, hit), func(crashpoint.Point) {
				for _, p := range policies {
					clones = append(clones, fsys.Crash(p))
				}
			})
			if _, err := Write(fsys, "db", new, cps, crashpoint.DuringManifestUpdate); err != nil {
				t.Fatal(err)
			}
			if n := cps.Hits(crashpoint.DuringManifestUpdate); n != 2 {
				t.Fatalf("DuringManifestUpdate hit %d times per Write, want 2", n)
			}
			seen := map[string]int{}
			for i, c := range clones {
				seen[checkOldOrNew(t, c, oldp, new, policies[i].String())]++
			}
			t.Logf("first=%v hit %d: %v", first, hit, seen)
			if hit == 2 && seen["new"] == 0 {
				t.Errorf("no crash after the rename kept the new MANIFEST")
			}
			for _, p := range policies {
				if got := checkOldOrNew(t, fsys.Crash(p), oldp, new, "after Write returned"); got != "new" {
					t.Fatalf("%v: after Write returned the MANIFEST is %s", p, got)
				}
			}
		}
	}
}

// TestWrite_CrashAtEveryOp: a power loss before each filesystem operation
// Write makes (the exhaustive loop), under every policy, leaves the old or
// the new MANIFEST.
func TestWrite_CrashAtEveryOp(t *testing.T) {
	seed := testSeed(t)
	old := Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 4, LogEnd: LogEnd{4, 32, 0}}
	new := Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 5, LogEnd: LogEnd{5, 32, 0}}
	for i := 0; ; i++ {
		mem := newDir(t)
		if _, err := Write(mem, "db", old, nil, crashpoint.DuringManifestUpdate); err != nil {
			t.Fatal(err)
		}
		var clones []*vfs.MemFS
		n := 0
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if n == i {
				for _, p := range crashPolicies(seed, 50) {
					clones = append(clones, mem.Crash(p))
				}
			}
			n++
			return nil
		})
		if _, err := Write(errorfs.Wrap(mem, inj), "db", new, nil, crashpoint.DuringManifestUpdate); err != nil {
			t.Fatal(err)
		}
		if clones == nil {
			if i < 5 {
				t.Fatalf("Write made only %d operations", i)
			}
			break
		}
		for j, c := range clones {
			checkOldOrNew(t, c, &old, new, crashPolicies(seed, 50)[j].String())
		}
	}
}

// TestWrite_Errors: a failure of any operation is returned; before the
// rename it leaves the old MANIFEST in place and renamed false; from the
// rename on, renamed is true (the rename may have happened).
func TestWrite_Errors(t *testing.T) {
	old := Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 4, LogEnd: LogEnd{4, 32, 0}}
	new := Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 5, LogEnd: LogEnd{5, 32, 0}}
	wantOps := []errorfs.OpKind{errorfs.OpCreate, errorfs.OpWrite, errorfs.OpSync, errorfs.OpClose,
		errorfs.OpRename, errorfs.OpOpenDir, errorfs.OpSync, errorfs.OpClose}
	const renameAt = 4
	var ops []errorfs.OpKind
	spy := errorfs.InjectorFunc(func(op errorfs.Op) error {
		ops = append(ops, op.Kind)
		return nil
	})
	if _, err := Write(errorfs.Wrap(newDir(t), spy), "db", new, nil, crashpoint.DuringManifestUpdate); err != nil {
		t.Fatal(err)
	}
	if len(ops) != len(wantOps) {
		t.Fatalf("Write made operations %v, want %v", ops, wantOps)
	}
	for i, k := range wantOps {
		if ops[i] != k {
			t.Fatalf("Write made operations %v, want %v", ops, wantOps)
		}
	}
	for i := range wantOps {
		mem := newDir(t)
		if _, err := Write(mem, "db", old, nil, crashpoint.DuringManifestUpdate); err != nil {
			t.Fatal(err)
		}
		renamed, err := Write(errorfs.Wrap(mem, errorfs.OnIndex(int64(i), nil, errorfs.ErrIO)), "db", new, nil, crashpoint.DuringManifestUpdate)
		if !errors.Is(err, errorfs.ErrIO) {
			t.Fatalf("op %d (%v) failed: Write returned %v, want the injected error", i, wantOps[i], err)
		}
		if renamed != (i >= renameAt) {
			t.Errorf("op %d (%v) failed: renamed = %v", i, wantOps[i], renamed)
		}
		got, rerr := Read(mem, "db")
		if rerr != nil {
			t.Fatalf("op %d (%v): MANIFEST unreadable after a failed Write: %v", i, wantOps[i], rerr)
		}
		if want := map[bool]Manifest{false: old, true: new}[i > renameAt]; got != want {
			t.Errorf("op %d (%v) failed: MANIFEST is %+v, want %+v", i, wantOps[i], got, want)
		}
	}
}

// TestGolden_Manifest pins the current format version byte for byte, and
// reads every older one. Regenerate only for a new format version:
// go test ./internal/manifest -run Golden -update
func TestGolden_Manifest(t *testing.T) {
	path := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", FormatVersion), FileName)
	m := goldenManifest()
	got := Encode(m)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from %s:\ngot  % x\nwant % x", path, got, want)
	}
	v1 := m
	v1.LogEnd = LogEnd{}
	for v, wantM := range map[int]Manifest{1: v1, 2: m} {
		path := filepath.Join("testdata", "golden", fmt.Sprintf("v%d", v), FileName)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := Decode(path, b)
		if err != nil || dec != wantM {
			t.Fatalf("%s decodes to %+v, %v; want %+v", path, dec, err, wantM)
		}
	}
}

func goldenManifest() Manifest {
	return Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 3, SnapshotID: 2, Watermark: 41, LogEnd: LogEnd{4, 1234, 57}}
}
