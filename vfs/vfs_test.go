package vfs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"github.com/in-mem/inmem/vfs"
)

// forEachFS runs a scenario against every FS: the OS in a temporary
// directory and a MemFS. dir is the directory to work in.
func forEachFS(t *testing.T, f func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { f(t, vfs.OS, t.TempDir()) })
	t.Run("mem", func(t *testing.T) {
		fsys := vfs.NewMemFS()
		if err := fsys.MkdirAll("/tmp/test"); err != nil {
			t.Fatal(err)
		}
		f(t, fsys, "/tmp/test")
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeAll(t *testing.T, fsys vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fsys.Create(path)
	must(t, err)
	n, err := f.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	must(t, f.Sync())
	must(t, f.Close())
}

func readAll(t *testing.T, fsys vfs.FS, path string) string {
	t.Helper()
	b, err := vfs.ReadFile(fsys, path)
	must(t, err)
	return string(b)
}

// TestFS_Scenario: the same small life of a database directory behaves the
// same on every FS. Each step starts from where the previous one left off.
func TestFS_Scenario(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		wal := filepath.Join(dir, "WAL")
		seg := filepath.Join(wal, "wal-000001.seg")
		scenarioAppend(t, fsys, dir, wal, seg)
		scenarioReadAt(t, fsys, seg)
		scenarioStat(t, fsys, wal, seg)
		scenarioTruncate(t, fsys, seg)
		scenarioReplace(t, fsys, dir)
		scenarioRemove(t, fsys, wal, seg)
	})
}

// scenarioAppend makes the WAL directory (twice: no error) and a segment,
// appends two records to it and reads it back.
func scenarioAppend(t *testing.T, fsys vfs.FS, dir, wal, seg string) {
	must(t, fsys.MkdirAll(wal))
	must(t, fsys.MkdirAll(wal)) // again: no error
	must(t, vfs.SyncDir(fsys, dir))

	writeAll(t, fsys, seg, []byte("header"))
	f, err := fsys.OpenAppend(seg)
	must(t, err)
	_, err = f.Write([]byte("+rec1"))
	must(t, err)
	_, err = f.Write([]byte("+rec2"))
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	if got := readAll(t, fsys, seg); got != "header+rec1+rec2" {
		t.Fatalf("content %q", got)
	}
}

// scenarioReadAt: ReadAt whole, partial at the end, past the end; a file
// opened with Open refuses writes.
func scenarioReadAt(t *testing.T, fsys vfs.FS, seg string) {
	r, err := fsys.Open(seg)
	must(t, err)
	buf := make([]byte, 5)
	if n, err := r.ReadAt(buf, 6); n != 5 || err != nil || string(buf) != "+rec1" {
		t.Fatalf("ReadAt(6) = %d %q %v", n, buf, err)
	}
	if n, err := r.ReadAt(buf, 14); n != 2 || err != io.EOF || string(buf[:2]) != "c2" {
		t.Fatalf("ReadAt(14) = %d %q %v, want 2 bytes and io.EOF", n, buf[:n], err)
	}
	if n, err := r.ReadAt(buf, 100); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d, %v", n, err)
	}
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatalf("Write to a file opened with Open succeeded")
	}
	must(t, r.Close())
}

// scenarioStat: Stat of the segment and of its directory.
func scenarioStat(t *testing.T, fsys vfs.FS, wal, seg string) {
	info, err := fsys.Stat(seg)
	must(t, err)
	if info.Size() != 16 || info.IsDir() || info.Name() != "wal-000001.seg" {
		t.Fatalf("Stat = %v %v %v", info.Size(), info.IsDir(), info.Name())
	}
	if info, err := fsys.Stat(wal); err != nil || !info.IsDir() {
		t.Fatalf("Stat(dir) = %v, %v", info, err)
	}
}

// scenarioTruncate: Truncate shrinks and grows with zeros.
func scenarioTruncate(t *testing.T, fsys vfs.FS, seg string) {
	must(t, fsys.Truncate(seg, 11))
	if got := readAll(t, fsys, seg); got != "header+rec1" {
		t.Fatalf("after Truncate(11): %q", got)
	}
	must(t, fsys.Truncate(seg, 13))
	if got := readAll(t, fsys, seg); got != "header+rec1\x00\x00" {
		t.Fatalf("after Truncate(13): %q", got)
	}
}

// scenarioReplace: Create truncates an existing file, Rename replaces the
// target and drops the old name, and List shows the result.
func scenarioReplace(t *testing.T, fsys vfs.FS, dir string) {
	tmp := filepath.Join(dir, "MANIFEST.tmp")
	writeAll(t, fsys, tmp, []byte("old old old"))
	writeAll(t, fsys, tmp, []byte("new"))
	if got := readAll(t, fsys, tmp); got != "new" {
		t.Fatalf("Create did not truncate: %q", got)
	}

	final := filepath.Join(dir, "MANIFEST")
	writeAll(t, fsys, final, []byte("previous"))
	must(t, fsys.Rename(tmp, final))
	must(t, vfs.SyncDir(fsys, dir))
	if got := readAll(t, fsys, final); got != "new" {
		t.Fatalf("after Rename: %q", got)
	}
	if ok, err := vfs.Exists(fsys, tmp); ok || err != nil {
		t.Fatalf("old name still exists: %v %v", ok, err)
	}

	names, err := fsys.List(dir)
	must(t, err)
	if !slices.Equal(names, []string{"MANIFEST", "WAL"}) {
		t.Fatalf("List = %v", names)
	}
}

// scenarioRemove: Remove of a non-empty directory refuses; a file and then
// its empty directory go.
func scenarioRemove(t *testing.T, fsys vfs.FS, wal, seg string) {
	if err := fsys.Remove(wal); err == nil {
		t.Fatalf("Remove of a non-empty directory succeeded")
	}
	must(t, fsys.Remove(seg))
	must(t, fsys.Remove(wal))
	if _, err := fsys.Stat(seg); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat after Remove = %v", err)
	}
	if ok, err := vfs.Exists(fsys, wal); ok || err != nil {
		t.Fatalf("Exists(removed dir) = %v, %v", ok, err)
	}
}

// TestFS_Errors: the failures every FS reports the same way.
func TestFS_Errors(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		missing := filepath.Join(dir, "missing")
		notExist := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s = %v, want not-exist", what, err)
			}
		}
		_, err := fsys.Open(missing)
		notExist("Open", err)
		_, err = fsys.OpenAppend(missing)
		notExist("OpenAppend", err)
		_, err = fsys.OpenDir(missing)
		notExist("OpenDir", err)
		_, err = fsys.Create(filepath.Join(missing, "f"))
		notExist("Create in a missing directory", err)
		notExist("Rename", fsys.Rename(missing, filepath.Join(dir, "x")))
		notExist("Remove", fsys.Remove(missing))
		_, err = fsys.List(missing)
		notExist("List", err)
		_, err = fsys.Stat(missing)
		notExist("Stat", err)
		notExist("Truncate", fsys.Truncate(missing, 0))
		_, err = vfs.ReadFile(fsys, missing)
		notExist("ReadFile", err)
		notExist("SyncDir", vfs.SyncDir(fsys, missing))

		file := filepath.Join(dir, "file")
		writeAll(t, fsys, file, []byte("x"))
		if err := fsys.MkdirAll(filepath.Join(file, "sub")); err == nil {
			t.Errorf("MkdirAll through a file succeeded")
		}
		if _, err := fsys.List(file); err == nil {
			t.Errorf("List of a file succeeded")
		}
		if _, err := fsys.Create(dir); err == nil {
			t.Errorf("Create of a directory succeeded")
		}
		f, err := fsys.Create(filepath.Join(dir, "closed"))
		must(t, err)
		must(t, f.Close())
		if _, err := f.Write([]byte("x")); err == nil {
			t.Errorf("Write after Close succeeded")
		}
		if err := f.Close(); err == nil {
			t.Errorf("second Close succeeded")
		}
	})
}

// TestFS_Lock: a lock conflicts within one process and is released by
// Close, on every FS.
func TestFS_Lock(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		// NB: the OS Lock creates missing parent directories, MemFS.Lock
		// does not; the engine creates the directory first anyway.
		must(t, fsys.MkdirAll(filepath.Join(dir, "db")))
		name := filepath.Join(dir, "db", "LOCK")
		l, err := fsys.Lock(name)
		must(t, err)
		if ok, _ := vfs.Exists(fsys, name); !ok {
			t.Fatalf("Lock did not create %s", name)
		}
		if _, err := fsys.Lock(name); !errors.Is(err, vfs.ErrLocked) {
			t.Fatalf("second Lock = %v, want ErrLocked", err)
		}
		other, err := fsys.Lock(filepath.Join(dir, "db", "OTHER"))
		must(t, err)
		must(t, l.Close())
		l2, err := fsys.Lock(name)
		if err != nil {
			t.Fatalf("Lock after Close = %v", err)
		}
		must(t, l2.Close())
		must(t, other.Close())
	})
}

// TestFS_LockShared: shared locks coexist with each other and conflict
// with an exclusive lock both ways; a shared lock never creates its file.
func TestFS_LockShared(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		must(t, fsys.MkdirAll(filepath.Join(dir, "db")))
		name := filepath.Join(dir, "db", "LOCK")
		if _, err := vfs.LockShared(fsys, name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("LockShared of a missing file = %v, want ErrNotExist", err)
		}
		if ok, _ := vfs.Exists(fsys, name); ok {
			t.Fatalf("LockShared created %s", name)
		}
		ex, err := fsys.Lock(name)
		must(t, err)
		if _, err := vfs.LockShared(fsys, name); !errors.Is(err, vfs.ErrLocked) {
			t.Fatalf("LockShared under an exclusive lock = %v, want ErrLocked", err)
		}
		must(t, ex.Close())
		s1, err := vfs.LockShared(fsys, name)
		must(t, err)
		s2, err := vfs.LockShared(fsys, name)
		if err != nil {
			t.Fatalf("second shared lock = %v", err)
		}
		if _, err := fsys.Lock(name); !errors.Is(err, vfs.ErrLocked) {
			t.Fatalf("Lock under shared locks = %v, want ErrLocked", err)
		}
		must(t, s1.Close())
		if _, err := fsys.Lock(name); !errors.Is(err, vfs.ErrLocked) {
			t.Fatalf("Lock under one remaining shared lock = %v, want ErrLocked", err)
		}
		must(t, s2.Close())
		ex, err = fsys.Lock(name)
		if err != nil {
			t.Fatalf("Lock after the shared locks closed = %v", err)
		}
		must(t, ex.Close())
	})
}

// TestLockShared_Fallback: an FS without shared locks, and not wrapping
// one, gets a no-op lock.
func TestLockShared_Fallback(t *testing.T) {
	l, err := vfs.LockShared(plainFS{vfs.NewMemFS()}, "anything")
	if err != nil {
		t.Fatal(err)
	}
	must(t, l.Close())
}

// plainFS hides every optional interface of the FS it embeds.
type plainFS struct{ vfs.FS }

func TestReadFile_Empty(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		p := filepath.Join(dir, "empty")
		writeAll(t, fsys, p, nil)
		b, err := vfs.ReadFile(fsys, p)
		if err != nil || len(b) != 0 {
			t.Fatalf("ReadFile(empty) = %q, %v", b, err)
		}
		big := bytes.Repeat([]byte("0123456789"), 10000)
		writeAll(t, fsys, p, big)
		if b, err := vfs.ReadFile(fsys, p); err != nil || !bytes.Equal(b, big) {
			t.Fatalf("ReadFile(big): %d bytes, %v", len(b), err)
		}
	})
}
