package inmem

import (
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
)

var markerFiles = []exportFile{
	{path: "MANIFEST", size: 66, crc: 0xdeadbeef},
	{path: "SNAPSHOTS/snap-000007.chk", size: 1 << 33, crc: 0},
	{path: "WAL/wal-000001.seg", size: 32, crc: 0x00000001},
}

// TestExportMarker_RoundTrip checks decode(encode(x)) == x.
func TestExportMarker_RoundTrip(t *testing.T) {
	for _, files := range [][]exportFile{markerFiles, nil, {{path: "odd name \"quoted\"\n", size: 0, crc: 42}}} {
		b := encodeExportMarker(12345, files)
		w, got, err := decodeExportMarker("EXPORT", b)
		if err != nil || w != 12345 || !slices.Equal(got, files) {
			t.Fatalf("decode(encode(%v)) = %d, %v, %v\n%s", files, w, got, err, b)
		}
	}
}

// TestExportMarker_Malformed is a table of markers that must be refused
// as corruption.
func TestExportMarker_Malformed(t *testing.T) {
	good := string(encodeExportMarker(9, markerFiles))
	tcs := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"no newline", strings.TrimSuffix(good, "\n")},
		{"flipped digit", strings.Replace(good, "watermark 9", "watermark 8", 1)},
		{"cut", good[:len(good)/2]},
		{"no checksum", strings.Join(strings.Split(good, "\n")[:4], "\n") + "\n"},
		{"bad checksum line", strings.Replace(good, "crc ", "crc x", 1)},
		{"other header", resum(strings.Replace(good, "export 1", "export 2", 1))},
		{"bad watermark", resum(strings.Replace(good, "watermark 9", "watermark nine", 1))},
		{"bad size", resum(strings.Replace(good, "file 66", "file -66", 1))},
		{"bad crc", resum(strings.Replace(good, "deadbeef", "deadbeefff", 1))},
		{"unquoted path", resum(strings.Replace(good, `"MANIFEST"`, "MANIFEST", 1))},
		{"escaping path", resum(strings.Replace(good, `"MANIFEST"`, `"../MANIFEST"`, 1))},
		{"absolute path", resum(strings.Replace(good, `"MANIFEST"`, `"/etc/passwd"`, 1))},
		{"short file line", resum(strings.Replace(good, "file 66 deadbeef", "file 66", 1))},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeExportMarker("EXPORT", []byte(tc.in))
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.File != "EXPORT" {
				t.Fatalf("decode(%q) = %v, want a *CorruptionError", tc.in, err)
			}
		})
	}
}

// resum recomputes the checksum line of a changed marker, so the test
// reaches the check behind it.
func resum(marker string) string {
	lines := strings.Split(strings.TrimSuffix(marker, "\n"), "\n")
	body := strings.Join(lines[:len(lines)-1], "\n") + "\n"
	return body + fmt.Sprintf("crc %08x\n", crc32.Checksum([]byte(body), exportCRC))
}

// FuzzDecodeExportMarker checks the marker decoder never panics and that
// whatever it accepts encodes back to the same bytes.
func FuzzDecodeExportMarker(f *testing.F) {
	f.Add(encodeExportMarker(9, markerFiles))
	f.Add(encodeExportMarker(0, nil))
	f.Add([]byte("in-mem export 1\nwatermark 1\ncrc 00000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, files, err := decodeExportMarker("EXPORT", b)
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("decode error %v is not a *CorruptionError", err)
			}
			return
		}
		if again := encodeExportMarker(w, files); string(again) != string(b) {
			w2, files2, err2 := decodeExportMarker("EXPORT", again)
			if err2 != nil || w2 != w || !slices.Equal(files2, files) {
				t.Fatalf("accepted %q but its re-encoding %q decodes to %d %v %v", b, again, w2, files2, err2)
			}
		}
	})
}
