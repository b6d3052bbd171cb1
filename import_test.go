package inmem_test

import (
	"errors"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// TestCopyExport: a copied export imports to the exported state and leaves
// the source a complete export that imports again; a source that is not a
// complete export, or a destination that is not empty or holds or lies in
// the source, is refused before anything is written.
func TestCopyExport(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	w := newWorkload(7)
	w.run(t, db, 40)
	if _, err := db.Export("e"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	src := files(t, mem, "e")
	o := &inmem.Options{FS: mem}
	for _, dst := range []string{"restored", "spare"} {
		if err := inmem.CopyExport("e", dst, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := sameFiles(src, files(t, mem, "e")); err != nil {
		t.Fatalf("CopyExport changed its source: %v", err)
	}
	for _, dir := range []string{"restored", "e"} {
		idb := openImport(t, mem, dir, nil)
		checkModel(t, idb, w.m, "import of "+dir)
		idb.Close()
	}
	mem.MkdirAll("full")
	writeFile(t, mem, "full/x", []byte("x"))
	for name, tc := range map[string]struct {
		src, dst string
		is       error
	}{
		"not an export":         {testDir, "c1", inmem.ErrIncompleteExport},
		"a used export":         {"e", "c2", inmem.ErrIncompleteExport}, // imported above: its marker is gone
		"destination not empty": {"spare", "full", inmem.ErrInvalid},
		"destination inside":    {"spare", "spare/c", inmem.ErrInvalid},
		"source inside":         {"spare", ".", inmem.ErrInvalid},
	} {
		before := files(t, mem, "/")
		if err := inmem.CopyExport(tc.src, tc.dst, o); !errors.Is(err, tc.is) {
			t.Errorf("%s: CopyExport(%s, %s) = %v, want %v", name, tc.src, tc.dst, err, tc.is)
		}
		if err := sameFiles(before, files(t, mem, "/")); err != nil {
			t.Errorf("%s: a refused CopyExport changed the disk: %v", name, err)
		}
	}
}
