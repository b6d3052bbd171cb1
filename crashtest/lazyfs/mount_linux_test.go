package lazyfs_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/in-mem/inmem/crashtest/lazyfs"
	"github.com/in-mem/inmem/vfs"
)

// mount mounts a lazy filesystem over backing (a new directory if "") and
// unmounts it when the test ends, checking that no mount is left behind.
func mount(t *testing.T, backing string, opts *lazyfs.Options) *lazyfs.FS {
	t.Helper()
	if err := lazyfs.Available(); err != nil {
		t.Skipf("skipping: the lazy filesystem needs FUSE: %v", err)
	}
	if backing == "" {
		backing = t.TempDir()
	}
	mnt := t.TempDir()
	f, err := lazyfs.Mount(backing, mnt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Error(err)
		}
		assertUnmounted(t, mnt)
	})
	return f
}

// assertUnmounted fails if dir is still in /proc/mounts.
func assertUnmounted(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			t.Fatalf("a mount was left behind: %s", line)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeFile writes name on the mount, syncing the file if syncFile.
func writeFile(t *testing.T, name string, data string, syncFile bool) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	must(t, err)
	_, err = f.WriteString(data)
	must(t, err)
	if syncFile {
		must(t, f.Sync())
	}
	must(t, f.Close())
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	must(t, err)
	must(t, d.Sync())
	must(t, d.Close())
}

func readFile(t *testing.T, name string) (string, error) {
	t.Helper()
	b, err := os.ReadFile(name)
	return string(b), err
}

// TestMount_DropLosesWhatWasNotSynced: a file synced in a synced directory
// survives a drop crash; an unsynced write, a file whose directory was not
// synced and a rename whose directory was not synced do not.
func TestMount_DropLosesWhatWasNotSynced(t *testing.T) {
	backing := t.TempDir()
	must(t, os.WriteFile(filepath.Join(backing, "old"), []byte("from the backing"), 0o600))
	f := mount(t, backing, nil)
	m := f.Mountpoint()
	must(t, os.Mkdir(filepath.Join(m, "d"), 0o755))
	syncDir(t, m)
	writeFile(t, filepath.Join(m, "d", "durable"), "synced", true)
	syncDir(t, filepath.Join(m, "d"))
	writeFile(t, filepath.Join(m, "d", "nodirsync"), "synced, its name not", true)
	writeFile(t, filepath.Join(m, "d", "tmp"), "renamed", true)
	must(t, os.Rename(filepath.Join(m, "d", "tmp"), filepath.Join(m, "d", "durable")))
	af, err := os.OpenFile(filepath.Join(m, "old"), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = af.WriteString(", appended")
	must(t, err)
	must(t, af.Close())
	if got, _ := readFile(t, filepath.Join(m, "old")); got != "from the backing, appended" {
		t.Fatalf("before the crash: %q", got)
	}
	if u := f.Unsynced(); len(u.Changes) == 0 {
		t.Fatal("nothing unsynced before the crash")
	}
	rep, err := f.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	must(t, err)
	t.Logf("%s", rep)
	for name, want := range map[string]string{"d/durable": "synced", "old": "from the backing"} {
		if got, err := readFile(t, filepath.Join(m, name)); err != nil || got != want {
			t.Errorf("%s after the crash: %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(m, "d", "nodirsync")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file whose directory was never synced survived: %v", err)
	}
	if rep.Dropped == 0 || rep.Crash != 1 || f.Stats().Crashes != 1 {
		t.Errorf("report %+v, stats %+v", rep, f.Stats())
	}
	if got, _ := os.ReadFile(filepath.Join(backing, "d", "durable")); string(got) != "synced" {
		t.Errorf("the backing directory after the crash holds %q", got)
	}
}

// TestMount_StaleAfterCrash: a file open across a crash fails with EIO,
// and a clean unmount writes everything, synced or not, back.
func TestMount_StaleAfterCrash(t *testing.T) {
	backing := t.TempDir()
	f := mount(t, backing, nil)
	name := filepath.Join(f.Mountpoint(), "f")
	h, err := os.Create(name)
	must(t, err)
	defer h.Close()
	_, err = f.Crash(vfs.CrashPolicy{Mode: vfs.KeepUnsynced})
	must(t, err)
	if _, err := h.WriteString("x"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a write through a file opened before the crash: %v", err)
	}
	writeFile(t, name, "never synced", false)
	must(t, f.Unmount())
	if got, err := os.ReadFile(filepath.Join(backing, "f")); err != nil || string(got) != "never synced" {
		t.Fatalf("after a clean unmount the backing holds %q, %v", got, err)
	}
	if _, err := f.Crash(vfs.CrashPolicy{}); !errors.Is(err, lazyfs.ErrUnmounted) {
		t.Fatalf("Crash after Unmount: %v", err)
	}
}

// TestMount_Clear: after Clear nothing is unsynced, and a drop crash
// loses nothing written before it.
func TestMount_Clear(t *testing.T) {
	f := mount(t, "", nil)
	name := filepath.Join(f.Mountpoint(), "f")
	writeFile(t, name, "data", false)
	must(t, f.Clear())
	if u := f.Unsynced(); len(u.Changes) != 0 {
		t.Fatalf("after Clear: %s", u)
	}
	_, err := f.Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced})
	must(t, err)
	if got, err := readFile(t, name); err != nil || got != "data" {
		t.Fatalf("after Clear and a crash: %q, %v", got, err)
	}
}

// TestMount_ControlSocket drives a mount through its socket, as docs/lazyfs.md
// shows.
func TestMount_ControlSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lazyfs.sock")
	f := mount(t, "", &lazyfs.Options{Socket: sock})
	writeFile(t, filepath.Join(f.Mountpoint(), "f"), "data", false)
	conn, err := net.Dial("unix", sock)
	must(t, err)
	defer conn.Close()
	rd := bufio.NewReader(conn)
	ask := func(line string) map[string]any {
		t.Helper()
		_, err := conn.Write([]byte(line + "\n"))
		must(t, err)
		b, err := rd.ReadBytes('\n')
		must(t, err)
		var out map[string]any
		must(t, json.Unmarshal(b, &out))
		return out
	}
	if r := ask("report"); r["ok"] != true || len(r["report"].(map[string]any)["changes"].([]any)) == 0 {
		t.Fatalf("report: %v", r)
	}
	if r := ask("stats"); r["ok"] != true || r["stats"].(map[string]any)["files"].(float64) != 1 {
		t.Fatalf("stats: %v", r)
	}
	if r := ask("crash reorder:7"); r["ok"] != true || r["report"].(map[string]any)["policy"] != "reorder:7" {
		t.Fatalf("crash: %v", r)
	}
	for _, bad := range []string{"crash sometimes", "explode", "crash drop keep", "random:1"} {
		if r := ask(bad); r["ok"] != false || r["error"] == "" {
			t.Fatalf("%q: %v", bad, r)
		}
	}
	if r := ask("clear"); r["ok"] != true {
		t.Fatalf("clear: %v", r)
	}
}

// TestMount_BadDirs: what cannot be served is refused before anything is
// mounted.
func TestMount_BadDirs(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		t.Skipf("skipping: the lazy filesystem needs FUSE: %v", err)
	}
	backing, mnt := t.TempDir(), t.TempDir()
	must(t, os.Symlink("/etc", filepath.Join(backing, "link")))
	if _, err := lazyfs.Mount(backing, mnt, nil); !errors.Is(err, lazyfs.ErrNotServed) {
		t.Fatalf("a backing directory with a symbolic link: %v", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, nil, 0o644))
	for _, dirs := range [][2]string{{file, mnt}, {backing, file}, {backing, filepath.Join(mnt, "nope")}} {
		if _, err := lazyfs.Mount(dirs[0], dirs[1], nil); !errors.Is(err, lazyfs.ErrNotDir) {
			t.Errorf("Mount(%q, %q): %v", dirs[0], dirs[1], err)
		}
	}
	assertUnmounted(t, mnt)
}

// TestMount_NotMapped: in-mem never maps a file on the lazy filesystem: a
// fault on it would wait for this very process, which serves the mount,
// with the memory map locked (a deadlock a live lazy campaign met).
func TestMount_NotMapped(t *testing.T) {
	f := mount(t, "", nil)
	name := filepath.Join(f.Mountpoint(), "seg")
	writeFile(t, name, strings.Repeat("x", 8192), true)
	w, err := vfs.OS.OpenAppend(name)
	must(t, err)
	defer w.Close()
	if _, err := w.(vfs.Mapper).Map(0, 4096); !errors.Is(err, vfs.ErrNotMappable) {
		t.Fatalf("Map on the lazy filesystem: %v, want ErrNotMappable", err)
	}
	r, err := vfs.OS.Open(name)
	must(t, err)
	defer r.Close()
	if _, err := r.(vfs.ReadMapper).MapRead(8192); !errors.Is(err, vfs.ErrNotMappable) {
		t.Fatalf("MapRead on the lazy filesystem: %v, want ErrNotMappable", err)
	}
}
