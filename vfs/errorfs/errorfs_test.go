package errorfs_test

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/in-mem/inmem/vfs"
	"github.com/in-mem/inmem/vfs/errorfs"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recorder is an injector that records every operation it sees.
type recorder struct {
	mu  sync.Mutex
	ops []errorfs.Op
}

func (r *recorder) MaybeError(op errorfs.Op) error {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	return nil
}

func (r *recorder) kinds() []errorfs.OpKind {
	var out []errorfs.OpKind
	for _, op := range r.ops {
		out = append(out, op.Kind)
	}
	return out
}

// run shows each operation to inj and returns which failed.
func run(inj errorfs.Injector, ops []errorfs.Op) []bool {
	var failed []bool
	for _, op := range ops {
		failed = append(failed, inj.MaybeError(op) != nil)
	}
	return failed
}

var (
	w  = errorfs.Op{Kind: errorfs.OpWrite, Path: "db/WAL/wal-000001.seg"}
	s  = errorfs.Op{Kind: errorfs.OpSync, Path: "db/WAL/wal-000001.seg"}
	r  = errorfs.Op{Kind: errorfs.OpRead, Path: "db/MANIFEST"}
	ms = errorfs.Op{Kind: errorfs.OpSync, Path: "db/MANIFEST.tmp"}
)

func TestInjectors(t *testing.T) {
	seq := []errorfs.Op{w, s, r, w, ms, s, w, s}
	tcs := []struct {
		name string
		inj  errorfs.Injector
		want []bool
	}{
		{"OnIndex 0 of all", errorfs.OnIndex(0, nil, errorfs.ErrIO), []bool{true, false, false, false, false, false, false, false}},
		{"OnIndex 3 of all", errorfs.OnIndex(3, nil, errorfs.ErrIO), []bool{false, false, false, true, false, false, false, false}},
		{"OnIndex 1 of syncs", errorfs.OnIndex(1, errorfs.ByKind(errorfs.OpSync), errorfs.ErrSyncFailed), []bool{false, false, false, false, true, false, false, false}},
		{"OnIndex beyond", errorfs.OnIndex(50, nil, errorfs.ErrIO), []bool{false, false, false, false, false, false, false, false}},
		{"FromIndex 1 of writes", errorfs.FromIndex(1, errorfs.ByKind(errorfs.OpWrite), errorfs.ErrNoSpace), []bool{false, false, false, true, false, false, true, false}},
		{"FromIndex 0 of all", errorfs.FromIndex(0, nil, errorfs.ErrIO), []bool{true, true, true, true, true, true, true, true}},
		{"ByPath", errorfs.FromIndex(0, errorfs.ByPath("MANIFEST"), errorfs.ErrIO), []bool{false, false, true, false, true, false, false, false}},
		{"ByKind several", errorfs.FromIndex(0, errorfs.ByKind(errorfs.OpRead, errorfs.OpWrite), errorfs.ErrIO), []bool{true, false, true, true, false, false, true, false}},
		{"Mutations", errorfs.FromIndex(0, errorfs.Mutations, errorfs.ErrIO), []bool{true, true, false, true, true, true, true, true}},
		// NB: the second injector does not see op 0, which the first
		// failed, so its index 2 is op 3.
		{"Any", errorfs.Any(errorfs.OnIndex(0, nil, errorfs.ErrIO), errorfs.OnIndex(2, nil, errorfs.ErrIO)), []bool{true, false, false, true, false, false, false, false}},
		{"Any of none", errorfs.Any(), []bool{false, false, false, false, false, false, false, false}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.inj, seq); !slices.Equal(got, tc.want) {
				t.Fatalf("failed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAny_FirstErrorWins: Any returns the first injector's error and stops
// there: injectors after a failing one do not see the operation.
func TestAny_FirstErrorWins(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	counter := &errorfs.Counter{}
	inj := errorfs.Any(errorfs.OnIndex(1, nil, a), errorfs.FromIndex(0, nil, b), counter)
	if err := inj.MaybeError(w); err != b {
		t.Fatalf("op 0: %v, want b", err)
	}
	if err := inj.MaybeError(w); err != a {
		t.Fatalf("op 1: %v, want a", err)
	}
	if counter.Count() != 0 {
		t.Fatalf("an injector after a failing one saw %d operations", counter.Count())
	}
}

func TestCounter(t *testing.T) {
	all, syncs := &errorfs.Counter{}, &errorfs.Counter{Filter: errorfs.ByKind(errorfs.OpSync)}
	inj := errorfs.Any(all, syncs)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				inj.MaybeError(w)
				inj.MaybeError(s)
			}
		}()
	}
	wg.Wait()
	if all.Count() != 1600 || syncs.Count() != 800 {
		t.Fatalf("counted %d and %d, want 1600 and 800", all.Count(), syncs.Count())
	}
}

func TestToggle(t *testing.T) {
	tg := &errorfs.Toggle{Err: errorfs.ErrIO}
	fsys := errorfs.Wrap(vfs.NewMemFS(), tg)
	must(t, fsys.MkdirAll("d"))
	tg.On()
	if err := fsys.MkdirAll("e"); !errors.Is(err, errorfs.ErrIO) {
		t.Fatalf("MkdirAll while on = %v", err)
	}
	if _, err := fsys.List("d"); !errors.Is(err, errorfs.ErrIO) {
		t.Fatalf("List while on = %v", err)
	}
	tg.Off()
	if _, err := fsys.List("d"); err != nil {
		t.Fatalf("List after Off = %v", err)
	}
	if ok, _ := vfs.Exists(fsys, "e"); ok {
		t.Fatalf("a failed MkdirAll created the directory")
	}
}

// TestWrap_OpKinds: every FS and File method consults the injector with its
// kind, path and, for reads and writes, offset and length.
func TestWrap_OpKinds(t *testing.T) {
	rec := &recorder{}
	mem := vfs.NewMemFS()
	fsys := errorfs.Wrap(mem, rec)
	must(t, fsys.MkdirAll("d"))
	f, err := fsys.Create("d/f")
	must(t, err)
	_, err = f.Write([]byte("abc"))
	must(t, err)
	_, err = f.Write([]byte("de"))
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	a, err := fsys.OpenAppend("d/f")
	must(t, err)
	must(t, a.Close())
	o, err := fsys.Open("d/f")
	must(t, err)
	_, err = o.ReadAt(make([]byte, 2), 3)
	must(t, err)
	must(t, o.Close())
	must(t, vfs.SyncDir(fsys, "d"))
	must(t, fsys.Rename("d/f", "d/g"))
	_, err = fsys.List("d")
	must(t, err)
	_, err = fsys.Stat("d/g")
	must(t, err)
	must(t, fsys.Truncate("d/g", 1))
	l, err := fsys.Lock("d/LOCK")
	must(t, err)
	l.Close()
	must(t, fsys.Remove("d/g"))

	want := []errorfs.OpKind{
		errorfs.OpMkdirAll, errorfs.OpCreate, errorfs.OpWrite, errorfs.OpWrite, errorfs.OpSync, errorfs.OpClose,
		errorfs.OpOpenAppend, errorfs.OpClose, errorfs.OpOpen, errorfs.OpRead, errorfs.OpClose,
		errorfs.OpOpenDir, errorfs.OpSync, errorfs.OpClose, errorfs.OpRename, errorfs.OpList, errorfs.OpStat,
		errorfs.OpTruncate, errorfs.OpLock, errorfs.OpRemove,
	}
	if !slices.Equal(rec.kinds(), want) {
		t.Fatalf("kinds %v\nwant  %v", rec.kinds(), want)
	}
	if op := rec.ops[3]; op.Path != "d/f" || op.Offset != 3 || op.Len != 2 {
		t.Fatalf("second write seen as %+v, want offset 3 len 2", op)
	}
	if op := rec.ops[9]; op.Offset != 3 || op.Len != 2 {
		t.Fatalf("read seen as %+v", op)
	}
	if op := rec.ops[14]; op.Path != "d/f" {
		t.Fatalf("rename seen as %+v, want the old name", op)
	}
}

// TestWrap_Errors: an injected error fails the operation before it reaches
// the filesystem, as a *fs.PathError that matches the injected error and
// its errno.
func TestWrap_Errors(t *testing.T) {
	mem := vfs.NewMemFS()
	fsys := errorfs.Wrap(mem, errorfs.FromIndex(0, errorfs.ByKind(errorfs.OpCreate, errorfs.OpWrite, errorfs.OpSync), errorfs.ErrIO))
	if _, err := fsys.Create("f"); err == nil {
		t.Fatalf("Create succeeded")
	} else {
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Path != "f" || !errors.Is(err, syscall.EIO) || !errors.Is(err, errorfs.ErrIO) {
			t.Fatalf("Create error %#v", err)
		}
	}
	if ok, _ := vfs.Exists(mem, "f"); ok {
		t.Fatalf("a failed Create created the file")
	}
	writeMem(t, mem, "g", "synced")
	f, err := fsys.OpenAppend("g")
	must(t, err)
	if n, err := f.Write([]byte("more")); n != 0 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := f.Sync(); !errors.Is(err, errorfs.ErrIO) {
		t.Fatalf("Sync = %v", err)
	}
	must(t, f.Close())
	if b, _ := vfs.ReadFile(mem, "g"); string(b) != "synced" {
		t.Fatalf("a failed write stored %q", b)
	}
}

func writeMem(t *testing.T, fsys vfs.FS, name, content string) {
	t.Helper()
	f, err := fsys.Create(name)
	must(t, err)
	_, err = f.Write([]byte(content))
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
}

// TestWrap_ShortWrite: a short write stores the first half of the bytes and
// fails; the written count moves by that half.
func TestWrap_ShortWrite(t *testing.T) {
	mem := vfs.NewMemFS()
	rec := &recorder{}
	fsys := errorfs.Wrap(mem, errorfs.Any(rec, errorfs.OnIndex(1, errorfs.ByKind(errorfs.OpWrite), errorfs.ErrShortWrite)))
	f, err := fsys.Create("f")
	must(t, err)
	_, err = f.Write([]byte("12"))
	must(t, err)
	n, err := f.Write([]byte("abcdefghij"))
	if n != 5 || !errors.Is(err, errorfs.ErrShortWrite) || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short Write = %d, %v", n, err)
	}
	_, err = f.Write([]byte("Z"))
	must(t, err)
	must(t, f.Close())
	if b, _ := vfs.ReadFile(mem, "f"); string(b) != "12abcdeZ" {
		t.Fatalf("file holds %q", b)
	}
	if op := rec.ops[3]; op.Kind != errorfs.OpWrite || op.Offset != 7 {
		t.Fatalf("write after the short one seen as %+v, want offset 7", op)
	}
}

// TestWrap_CloseError: an injected close error still closes the file.
func TestWrap_CloseError(t *testing.T) {
	mem := vfs.NewMemFS()
	fsys := errorfs.Wrap(mem, errorfs.OnIndex(0, errorfs.ByKind(errorfs.OpClose), errorfs.ErrIO))
	f, err := fsys.Create("f")
	must(t, err)
	if err := f.Close(); !errors.Is(err, errorfs.ErrIO) {
		t.Fatalf("Close = %v", err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Write after a failed Close = %v, want the file closed", err)
	}
}

func TestWrap_Unwrap(t *testing.T) {
	mem := vfs.NewMemFS()
	fsys := errorfs.Wrap(mem, errorfs.Any())
	u, ok := fsys.(interface{ Unwrap() vfs.FS })
	if !ok || u.Unwrap() != vfs.FS(mem) {
		t.Fatalf("Unwrap does not return the wrapped FS")
	}
	twice := errorfs.Wrap(fsys, errorfs.Any())
	if twice.(interface{ Unwrap() vfs.FS }).Unwrap() != fsys {
		t.Fatalf("Unwrap of a double wrap")
	}
}

func TestOpKind_Names(t *testing.T) {
	seen := map[string]bool{}
	for k := errorfs.OpCreate; k <= errorfs.OpLockShared; k++ {
		name := k.String()
		if seen[name] {
			t.Fatalf("name %q used twice", name)
		}
		seen[name] = true
		got, err := errorfs.ParseOpKind(name)
		if err != nil || got != k {
			t.Fatalf("ParseOpKind(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := errorfs.ParseOpKind("explode"); err == nil {
		t.Fatalf("ParseOpKind accepted junk")
	}
	if s := errorfs.OpKind(200).String(); s != "OpKind(200)" {
		t.Fatalf("String = %q", s)
	}
	mut := map[errorfs.OpKind]bool{errorfs.OpCreate: true, errorfs.OpRename: true, errorfs.OpRemove: true, errorfs.OpMkdirAll: true,
		errorfs.OpTruncate: true, errorfs.OpWrite: true, errorfs.OpSync: true}
	for k := errorfs.OpCreate; k <= errorfs.OpLockShared; k++ {
		if k.IsMutation() != mut[k] {
			t.Errorf("%v.IsMutation() = %v", k, k.IsMutation())
		}
	}
	if (errorfs.Op{Kind: errorfs.OpSync, Path: "p"}).String() != "sync p" {
		t.Fatalf("Op.String")
	}
}

func TestErrorNamed(t *testing.T) {
	for name, want := range map[string]error{"eio": errorfs.ErrIO, "enospc": errorfs.ErrNoSpace, "short": errorfs.ErrShortWrite, "fsync": errorfs.ErrSyncFailed} {
		if got, ok := errorfs.ErrorNamed(name); !ok || got != want {
			t.Errorf("ErrorNamed(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := errorfs.ErrorNamed("nope"); ok {
		t.Fatalf("ErrorNamed accepted junk")
	}
	nospc := &fs.PathError{Op: "write", Path: "f", Err: errorfs.ErrNoSpace}
	failed := &fs.PathError{Op: "sync", Path: "f", Err: errorfs.ErrSyncFailed}
	if !errors.Is(nospc, syscall.ENOSPC) || !errors.Is(failed, syscall.EIO) {
		t.Fatalf("injected errors do not match their errno")
	}
}

// TestReadOnly: the ReadOnly injector lets reads and shared locks through
// and refuses, with EROFS, everything a read-only mount refuses.
func TestReadOnly(t *testing.T) {
	mem := vfs.NewMemFS()
	if err := vfs.WriteFile(mem, "f", []byte("data")); err != nil {
		t.Fatal(err)
	}
	ro := errorfs.Wrap(mem, errorfs.ReadOnly)
	if b, err := vfs.ReadFile(ro, "f"); err != nil || string(b) != "data" {
		t.Fatalf("read through ReadOnly: %q, %v", b, err)
	}
	if _, err := ro.List("."); err != nil {
		t.Fatalf("list through ReadOnly: %v", err)
	}
	l, err := vfs.LockShared(ro, "f")
	if err != nil {
		t.Fatalf("shared lock through ReadOnly: %v", err)
	}
	l.Close()
	refused := map[string]error{}
	_, refused["create"] = ro.Create("g")
	_, refused["open-append"] = ro.OpenAppend("f")
	refused["rename"] = ro.Rename("f", "g")
	refused["remove"] = ro.Remove("f")
	refused["mkdir"] = ro.MkdirAll("d")
	refused["truncate"] = ro.Truncate("f", 0)
	_, refused["lock"] = ro.Lock("f")
	d, err := ro.OpenDir(".")
	if err != nil {
		t.Fatal(err)
	}
	refused["sync"] = d.Sync()
	d.Close()
	for op, err := range refused {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s through ReadOnly = %v, want EROFS", op, err)
		}
	}
	if b, _ := vfs.ReadFile(mem, "f"); string(b) != "data" {
		t.Fatalf("a refused operation changed the file: %q", b)
	}
}
