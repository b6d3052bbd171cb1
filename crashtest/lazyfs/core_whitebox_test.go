package lazyfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/in-mem/inmem/crashtest/internal/fsrecord"
	"github.com/in-mem/inmem/vfs"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dump describes every file and directory of m with its content.
func dump(t *testing.T, m *vfs.MemFS) string {
	t.Helper()
	var lines []string
	must(t, walkMem(m, "/", func(p string, info fs.FileInfo) error {
		if info.IsDir() {
			lines = append(lines, p+"/")
			return nil
		}
		b, err := vfs.ReadFile(m, p)
		lines = append(lines, fmt.Sprintf("%s %q", p, b))
		return err
	}))
	return strings.Join(lines, "\n")
}

// TestCore_LogReplaysToTheLiveState: what the server logged, replayed,
// crashes to the same states as the live filesystem, through renames of
// open files, links, truncates, removes of open files and a Clear: the
// explorer's states are the mount's.
func TestCore_LogReplaysToTheLiveState(t *testing.T) {
	c := newCore(vfs.NewMemFS(), "", true)
	must(t, c.mkdir("/d", 0o755))
	must(t, c.syncDir("/"))
	a, err := c.create("/d/a.tmp", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	must(t, c.write(a, []byte("world"), 6))
	must(t, c.write(a, []byte("hello "), 0))
	must(t, c.rename("/d/a.tmp", "/d/a", false))
	must(t, c.sync(a)) // through the handle: the renamed file
	must(t, c.link("/d/a", "/d/b"))
	must(t, c.truncate(nil, "/d/b", 5))
	must(t, c.clear())
	g, err := c.open("/d/a", os.O_WRONLY|os.O_APPEND)
	must(t, err)
	must(t, c.write(g, []byte("!"), 0)) // O_APPEND: at the end
	must(t, c.remove("/d/b", false))
	must(t, c.write(g, []byte("?"), 0)) // to a file with one name left
	c.release(g)
	c.release(a)
	replay := fsrecord.NewReplayer(nil, c.log.Ops())
	must(t, replay.Advance(len(c.log.Ops())))
	for _, p := range []vfs.CrashPolicy{{Mode: vfs.DropUnsynced}, {Mode: vfs.KeepUnsynced}, {Mode: vfs.ReorderUnsynced, Seed: 3}} {
		live, again := dump(t, c.mem.Crash(p)), dump(t, replay.FS().Crash(p))
		if live != again {
			t.Errorf("%s: the live state\n%s\nthe replayed state\n%s", p.Spec(), live, again)
		}
	}
	if got := dump(t, c.mem.Crash(vfs.CrashPolicy{Mode: vfs.KeepUnsynced})); got != "//\n/d/\n/d/a \"hello!?\"" {
		t.Errorf("the state kept whole:\n%s", got)
	}
}

// TestCore_Errors: what the server refuses, and that a refused change is
// not logged.
func TestCore_Errors(t *testing.T) {
	c := newCore(vfs.NewMemFS(), "", true)
	must(t, c.mkdir("/d", 0o755))
	h, err := c.create("/d/f", os.O_RDONLY|os.O_CREATE, 0o644)
	must(t, err)
	n := c.clock()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"mkdir over a directory", c.mkdir("/d", 0o755), fs.ErrExist},
		{"mkdir in nothing", c.mkdir("/x/y", 0o755), fs.ErrNotExist},
		{"exclusive create", func() error { _, err := c.create("/d/f", os.O_CREATE|os.O_EXCL, 0); return err }(), fs.ErrExist},
		{"write to a read-only open", c.write(h, []byte("x"), 0), syscall.EBADF},
		{"rmdir of a file", c.remove("/d/f", true), syscall.ENOTDIR},
		{"unlink of a directory", c.remove("/d", false), syscall.EISDIR},
		{"rename without replacing", c.rename("/d", "/d", true), fs.ErrExist},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if c.clock() != n {
		t.Errorf("refused changes were logged: %d operations, want %d", c.clock(), n)
	}
}
