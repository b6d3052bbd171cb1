package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem/internal/base"
)

// Fuzz with: go test ./internal/manifest -run '^$' -fuzz '^FuzzDecode$' -fuzztime 5m -parallel 1

type manifestSeed struct {
	name      string
	b         []byte
	codec     string
	seg, snap uint64
	wm        uint64
	end       LogEnd
}

func manifestSeeds() []manifestSeed {
	golden := Encode(goldenManifest())
	seeds := []manifestSeed{
		{"golden", golden, "identity", 3, 2, 41, LogEnd{3, 32, 41}},
		{"golden-v1", encodeV1(goldenManifest()), "identity", 3, 2, 41, LogEnd{}},
		{"empty", nil, "", 0, 0, 0, LogEnd{}},
		{"cut", golden[:fixedSize], "x", 1, 0, 5, LogEnd{1, 31, 5}},
		{"extra", append(bytes.Clone(golden), 0), strings.Repeat("y", 256), 1, 1, 1, LogEnd{2, 32, 0}},
	}
	flipped := bytes.Clone(golden)
	flipped[30] ^= 4
	seeds = append(seeds, manifestSeed{"flipped", flipped, "identity", 9, 0, 0, LogEnd{9, 32, 0}})
	lenMismatch := bytes.Clone(golden)
	binary.LittleEndian.PutUint16(lenMismatch[72:], 9)
	seeds = append(seeds, manifestSeed{"codec-len-mismatch", reseal(lenMismatch), "", 1, 0, 0, LogEnd{1, 40, 0}})
	for i, m := range testManifests() {
		seeds = append(seeds, manifestSeed{fmt.Sprintf("manifest-%d", i), Encode(m), m.CodecID, m.ActiveSegment, m.SnapshotID, m.Watermark, m.LogEnd})
	}
	return seeds
}

// FuzzDecode: Decode never panics, fails only with a *base.CorruptionError
// naming the file, and accepts only canonical encodings (re-encoding in the
// version read gives the same bytes); Encode of any valid MANIFEST decodes
// back to it.
func FuzzDecode(f *testing.F) {
	for _, s := range manifestSeeds() {
		f.Add(s.b, s.codec, s.seg, s.snap, s.wm, s.end.Segment, s.end.Offset, s.end.Txn)
	}
	f.Fuzz(func(t *testing.T, b []byte, codec string, seg, snap, wm, endSeg uint64, endOff int64, endTxn uint64) {
		m, err := Decode("MANIFEST", b)
		if err != nil {
			var cerr *base.CorruptionError
			if !errors.As(err, &cerr) || cerr.File != "MANIFEST" || cerr.Offset < 0 || cerr.Offset > int64(len(b)) {
				t.Fatalf("Decode error %v (%T) is not a corruption within the file", err, err)
			}
		} else if re := reencode(m, b); !bytes.Equal(re, b) {
			t.Fatalf("accepted a non-canonical MANIFEST:\n% x\nre-encodes as\n% x", b, re)
		}

		in := Manifest{UUID: testUUID, CodecID: codec, ActiveSegment: seg, SnapshotID: snap, Watermark: wm, LogEnd: LogEnd{endSeg, endOff, endTxn}}
		valid := len(codec) <= maxCodecID && seg != 0 && !(snap == 0 && wm != 0) &&
			endSeg >= seg && endOff >= MinLogOffset && endTxn >= wm
		out, err := Decode("M", Encode(in))
		if valid && (err != nil || out != in) {
			t.Fatalf("round trip of %+v: %+v, %v", in, out, err)
		}
		if !valid && err == nil {
			t.Fatalf("Decode accepted invalid %+v", in)
		}
	})
}

// reencode encodes m in the format version of b.
func reencode(m Manifest, b []byte) []byte {
	if binary.LittleEndian.Uint32(b[4:]) == 1 {
		return encodeV1(m)
	}
	return Encode(m)
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzDecode equal to the seeds above;
// -update rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range manifestSeeds() {
		var b bytes.Buffer
		fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%q)\nstring(%q)\nuint64(%d)\nuint64(%d)\nuint64(%d)\nuint64(%d)\nint64(%d)\nuint64(%d)\n",
			s.b, s.codec, s.seg, s.snap, s.wm, s.end.Segment, s.end.Offset, s.end.Txn)
		path := filepath.Join("testdata", "fuzz", "FuzzDecode", "seed-"+s.name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, b.Bytes()) {
			t.Errorf("seed corpus %s is missing or stale (rewrite with -update): %v", path, err)
		}
	}
}
