package crashtest_test

import (
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/vfs"
)

// TestImage_Diff: an image survives a clean reopen exactly, deleted keys'
// histories included, and differs from that of another database with the
// same data in what no model predicts, run ids and timestamps.
func TestImage_Diff(t *testing.T) {
	mem := vfs.NewMemFS()
	db := memDB(t, mem)
	m := crashtest.NewReferenceModel()
	r := crashtest.NewRunner(db, m)
	ops := [][]crashtest.Write{
		{crashtest.Put("r", "k", []byte("a"))}, {crashtest.Delete("r", "k")},
		{crashtest.Append("r", []byte("e")), crashtest.Set("r", "c", []byte("s"))},
	}
	for _, ws := range ops {
		if err := r.Update(ws...); err != nil {
			t.Fatal(err)
		}
	}
	before, err := crashtest.Capture(db, m)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = memDB(t, mem)
	defer db.Close()
	after, err := crashtest.Capture(db, m)
	if err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(after); d != nil || before.Check() != nil {
		t.Fatalf("the image changed across a reopen: %v; or is inconsistent: %v", d, before.Check())
	}
	other := memDB(t, vfs.NewMemFS())
	defer other.Close()
	r = crashtest.NewRunner(other, crashtest.NewReferenceModel())
	for _, ws := range ops {
		r.Update(ws...)
	}
	img, err := crashtest.Capture(other, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := entities(before.Diff(img)); !strings.Contains(got, "run:r") {
		t.Fatalf("another database's image differs in %q, want the run's id and time", got)
	}
	if live, _ := crashtest.Capture(db, nil); !strings.Contains(entities(before.Diff(live)), "kv:r/k") {
		t.Fatal("an image without the model holds the deleted key's history")
	}
}
