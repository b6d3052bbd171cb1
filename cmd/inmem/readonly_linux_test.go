package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// roMount bind-mounts src read-only on a new directory and returns it, or
// skips the test where that cannot be done (not root, no mount namespace
// rights).
func roMount(t *testing.T, src string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a read-only bind mount needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount(src, mnt, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount %s: %v", src, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount %s read-only: %v", mnt, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Skipf("the mount is not read-only: writing gave %v", err)
	}
	return mnt
}

// TestReadOnlyMount: on read-only media every command that only reads
// works (it opens the database read-only: no LOCK written, no tail cut),
// and a write fails with the filesystem's refusal.
func TestReadOnlyMount(t *testing.T) {
	src := newDir(t)
	fillDB(t, src, 4)
	mustRun(t, "retention", "set", "--dir", src, "r", "last:2")
	dir := roMount(t, src)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kv", "get", "r", "k1"}, "v1\n"},
		{[]string{"kv", "keys", "r"}, "k0\nk1\nk2\n"},
		{[]string{"kv", "history", "r", "k0"}, "v3"},
		{[]string{"runs"}, "r "},
		{[]string{"event", "range", "r"}, "e"},
		{[]string{"state", "get", "r", "c"}, "on"},
		{[]string{"retention", "get", "r"}, "keep-last(2)"},
		{[]string{"inspect"}, "damage       none found"},
		{[]string{"verify"}, ": ok"},
	} {
		out, err := runCLI(t, append(tc.args, "--dir", dir)...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("inmem %v on a read-only mount: %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := execute([]string{"kv", "put", "--dir", dir, "r", "k", "v"}, &out, &errOut); code != exitError ||
		!strings.Contains(errOut.String(), "read-only file system") {
		t.Errorf("kv put on a read-only mount: exit %d, %q", code, errOut.String())
	}
}
