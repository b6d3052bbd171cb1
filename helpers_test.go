package inmem_test

import (
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// seedFlag fixes the seed of every randomized test; 0 picks a new one.
var seedFlag = flag.Uint64("inmem.seed", 0, "seed for randomized tests (0: derive one from the clock)")

// testSeed returns the seed of a randomized test, logs it, and on failure
// prints the command that reruns the test with it.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce: go test -race -run '%s' -inmem.seed=%d .", runPattern(t.Name()), seed)
		}
	})
	return seed
}

// runPattern turns a (sub)test name into a -run pattern matching only it.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

const testDir = "db"

// tb is the part of testing.TB the checking helpers need; *rapid.T has it
// too.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// openMem opens (creating) testDir on fsys, failing the test on error.
func openMem(t tb, fsys vfs.FS, opts *inmem.Options) *inmem.DB {
	t.Helper()
	o := inmem.Options{}
	if opts != nil {
		o = *opts
	}
	o.FS = fsys
	db, err := inmem.Open(testDir, &o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// newTestDB opens a database on a fresh MemFS and registers a consistency
// check: at cleanup, if the database is still open and healthy, its
// observable state must survive Close and reopen exactly, and its versions
// and timestamps must be ordered.
func newTestDB(t testing.TB, opts *inmem.Options) (*inmem.DB, *vfs.MemFS) {
	t.Helper()
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	t.Cleanup(func() { checkReopen(t, db, mem, opts) })
	return db, mem
}

// checkReopen is newTestDB's cleanup check.
func checkReopen(t testing.TB, db *inmem.DB, fsys vfs.FS, opts *inmem.Options) {
	t.Helper()
	if _, err := db.ListRuns(); err != nil || db.Err() != nil {
		return // closed or failed: the test checked what it wanted
	}
	before := capture(t, db, nil)
	if ms := before.Check(); ms != nil {
		t.Errorf("cleanup: the state is unsound:\n%s", list(ms))
	}
	if err := db.Close(); err != nil {
		t.Errorf("cleanup: Close: %v", err)
		return
	}
	if opts != nil && opts.Durability == inmem.InMemory {
		return
	}
	db2 := openMem(t, fsys, opts)
	defer db2.Close()
	if ms := before.Diff(capture(t, db2, nil)); ms != nil {
		t.Errorf("cleanup: state changed across Close and reopen:\n%s", list(ms))
	}
}

// files returns every file under root on fsys with its content.
func files(t tb, fsys vfs.FS, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		if err != nil {
			t.Fatalf("list %s: %v", dir, err)
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			info, err := fsys.Stat(p)
			if err != nil {
				t.Fatalf("stat %s: %v", p, err)
			}
			if info.IsDir() {
				walk(p)
				continue
			}
			b, err := vfs.ReadFile(fsys, p)
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			out[p] = b
		}
	}
	walk(root)
	return out
}

// diskBytes is the total size of the files under root.
func diskBytes(t tb, fsys vfs.FS, root string) int64 {
	var n int64
	for _, b := range files(t, fsys, root) {
		n += int64(len(b))
	}
	return n
}

// sameFiles reports the first difference between two file sets.
func sameFiles(want, got map[string][]byte) error {
	paths := slices.Collect(maps.Keys(want))
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		w, okw := want[p]
		g, okg := got[p]
		switch {
		case !okg:
			return fmt.Errorf("%s was removed", p)
		case !okw:
			return fmt.Errorf("%s was created", p)
		case string(w) != string(g):
			return fmt.Errorf("%s changed (%d bytes, now %d)", p, len(w), len(g))
		}
	}
	return nil
}
