package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/vfs"
)

// The helpers below are shared with verify_test.go.

// fillDB writes n KV puts, an event and a cell into a database in dir
// through the CLI, with extra flags (such as --encryption-key-file).
func fillDB(t *testing.T, dir string, n int, extra ...string) {
	t.Helper()
	for i := range n {
		mustRun(t, append([]string{"kv", "put", "--dir", dir, "r", fmt.Sprintf("k%d", i%3), fmt.Sprintf("v%d", i)}, extra...)...)
	}
	mustRun(t, append([]string{"event", "append", "--dir", dir, "r", "e"}, extra...)...)
	mustRun(t, append([]string{"state", "set", "--dir", dir, "r", "c", "on"}, extra...)...)
}

// tree returns every file under dir with its content.
func tree(t *testing.T, dir string) map[string][]byte {
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

// checkUnchanged fails the test unless dir holds exactly before's files.
func checkUnchanged(t *testing.T, dir string, before map[string][]byte) {
	t.Helper()
	after := tree(t, dir)
	if len(after) != len(before) {
		t.Errorf("%d files before, %d after", len(before), len(after))
	}
	for p, b := range before {
		if !bytes.Equal(after[p], b) {
			t.Errorf("%s changed", p)
		}
	}
}

func segPath(dir string) string { return filepath.Join(dir, "WAL", "wal-000001.seg") }

// recordOffsets returns the offsets of a segment's records, read from their
// length prefixes after the 32-byte header, up to the zeros the log wrote
// ahead of itself (a length of 0).
func recordOffsets(t *testing.T, path string) []int64 {
	offs, _ := recordsOf(t, path)
	return offs
}

// recordsOf returns the offsets of a segment's records and where they end.
func recordsOf(t *testing.T, path string) ([]int64, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	off := int64(32)
	for off+4 <= int64(len(data)) {
		n := int64(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 {
			break
		}
		offs = append(offs, off)
		off += 4 + n
	}
	return offs, off
}

// tearTail cuts the last record of segment 1 short, as a power loss can
// after a crash. The database was closed cleanly, which recorded the exact
// end of its log in the MANIFEST: first the MANIFEST is made what it was
// before that Close, as a crash would have left it.
// it returns the record's offset.
func tearTail(t *testing.T, dir string) int64 {
	t.Helper()
	forgetClose(t, dir)
	offs := recordOffsets(t, segPath(dir))
	last := offs[len(offs)-1]
	if err := os.Truncate(segPath(dir), last+10); err != nil {
		t.Fatal(err)
	}
	return last
}

// forgetClose rewrites the MANIFEST's durable log end as a crash instead of
// the last Close would have left it: the start of the active segment.
func forgetClose(t *testing.T, dir string) {
	t.Helper()
	m, err := manifest.Read(vfs.OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	m.LogEnd = manifest.LogEnd{Segment: m.ActiveSegment, Offset: manifest.MinLogOffset, Txn: m.Watermark}
	if _, err := manifest.Write(vfs.OS, dir, m, nil, crashpoint.DuringManifestUpdate); err != nil {
		t.Fatal(err)
	}
}

// writeKey writes a hex key file and returns its path.
func writeKey(t *testing.T, b byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.hex")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(bytes.Repeat([]byte{b}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspect_Clean(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 4)
	before := tree(t, dir)
	out := mustRun(t, "inspect", dir)
	checkUnchanged(t, dir, before)
	for _, re := range []string{
		`(?m)^MANIFEST\s+uuid [0-9a-f]{32}, \d+ bytes$`,
		`(?m)^  codec\s+identity$`,
		`(?m)^  active segment\s+1$`,
		`(?m)^  snapshot\s+none$`,
		`(?m)^  wal-000001.seg\s+\d+\s+6\s+1\s+6\s+ok$`,
		`(?m)^last txn\s+6$`,
		`(?m)^tail\s+clean$`,
		`(?m)^reclaimable\s+0 bytes$`,
		`(?m)^damage\s+none found$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("inspect output lacks %s:\n%s", re, out)
		}
	}
	if out2 := mustRun(t, "inspect", "--dir", dir); out2 != out {
		t.Errorf("inspect --dir DIR differs from inspect DIR")
	}
}

func TestInspect_TornTail(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 4)
	cut := tearTail(t, dir)
	before := tree(t, dir)
	out := mustRun(t, "inspect", dir)
	checkUnchanged(t, dir, before)
	want := fmt.Sprintf(`(?m)^tail\s+torn at offset %d of %s \(10 bytes would be cut\)`, cut, regexp.QuoteMeta(segPath(dir)))
	if !regexp.MustCompile(want).MatchString(out) || !regexp.MustCompile(`(?m)^last txn\s+5$`).MatchString(out) {
		t.Errorf("inspect output lacks %q and last txn 5:\n%s", want, out)
	}
	if !strings.Contains(out, fmt.Sprintf("torn tail at offset %d", cut)) {
		t.Errorf("segment line does not show the torn tail:\n%s", out)
	}
	r := fromJSON[struct {
		inmem.InspectReport
		Corruption *corruptionJSON
	}](t, mustRun(t, "inspect", "--json", dir))
	if r.Tail.State != inmem.TailTorn || r.Tail.Offset != cut || r.Tail.Bytes != 10 || r.Corruption != nil || r.LastTxn != 5 {
		t.Errorf("inspect --json: tail %+v, corruption %v, last %d", r.Tail, r.Corruption, r.LastTxn)
	}
	checkUnchanged(t, dir, before)
}

func TestInspect_Corrupt(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 4)
	offs := recordOffsets(t, segPath(dir))
	flipByte(t, segPath(dir), offs[2]+12)
	r := fromJSON[struct {
		inmem.InspectReport
		Corruption *corruptionJSON
	}](t, mustRun(t, "inspect", "--json", dir))
	c := r.Corruption
	if r.Tail.State != inmem.TailCorrupt || c == nil || c.File != segPath(dir) || c.Offset != offs[2] {
		t.Errorf("tail %+v, corruption %+v; want corrupt at %s offset %d", r.Tail, c, segPath(dir), offs[2])
	}
}

func TestInspect_Encrypted(t *testing.T) {
	dir := newDir(t)
	key := writeKey(t, 7)
	fillDB(t, dir, 3, "--encryption-key-file", key)
	mustRun(t, "checkpoint", "--dir", dir, "--encryption-key-file", key)
	before := tree(t, dir)
	out := mustRun(t, "inspect", dir, "--encryption-key-file", key)
	if !regexp.MustCompile(`(?m)^  codec\s+aes-256-gcm:[0-9a-f]{8}$`).MatchString(out) ||
		!regexp.MustCompile(`snap-000001.chk\s+\d+\s+5\s+current, checked`).MatchString(out) {
		t.Errorf("inspect with the key:\n%s", out)
	}
	out = mustRun(t, "inspect", dir)
	if !strings.Contains(out, "not the codec or key given") || !strings.Contains(out, "current, contents not checked") ||
		!regexp.MustCompile(`(?m)^tail\s+clean$`).MatchString(out) {
		t.Errorf("inspect without the key:\n%s", out)
	}
	checkUnchanged(t, dir, before)
}

func TestInspect_Errors(t *testing.T) {
	empty := t.TempDir()
	if _, err := runCLI(t, "inspect", empty); !errors.Is(err, inmem.ErrNotDatabase) || exitCode(err) != exitNoDB {
		t.Errorf("inspect of an empty directory: %v", err)
	}
	if _, err := runCLI(t, "inspect"); exitCode(err) != exitUsage {
		t.Errorf("inspect without a directory: %v", err)
	}
	if _, err := runCLI(t, "inspect", "a", "b"); exitCode(err) != exitUsage {
		t.Errorf("inspect with two directories: %v", err)
	}
}

// flipByte flips a bit of the byte at off.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
