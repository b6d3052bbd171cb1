package fsrecord

import (
	"testing"

	"github.com/in-mem/inmem/vfs"
)

// TestLog_ReplayThroughHandles: a write and a sync through a handle reach
// the file it was opened on, though the file was renamed in between, and
// a replay stops wherever it is told.
func TestLog_ReplayThroughHandles(t *testing.T) {
	var l Log
	for _, op := range []Op{
		MkdirOp("/d"), SyncDirOp("/"),
		CreateOp("/d/a.tmp", 1), WriteAtOp("/d/a.tmp", 1, 3, []byte("lo")), WriteAtOp("/d/a.tmp", 1, 0, []byte("hel")),
		RenameOp("/d/a.tmp", "/d/a"), SyncOp("/d/a", 1), SyncDirOp("/d"),
		LinkOp("/d/a", "/d/b"), TruncateOp("/d/a", 1, 4), CloseOp("/d/a", 1),
	} {
		l.Add(op)
	}
	if l.Clock() != 11 {
		t.Fatalf("clock %d", l.Clock())
	}
	ops := l.Ops()
	rp := NewReplayer(nil, ops)
	if err := rp.Advance(8); err != nil {
		t.Fatal(err)
	}
	got, err := vfs.ReadFile(rp.FS().Crash(vfs.CrashPolicy{Mode: vfs.DropUnsynced}), "/d/a")
	if err != nil || string(got) != "hello" {
		t.Fatalf("after the sync of the renamed file: %q, %v", got, err)
	}
	if err := rp.Advance(len(ops)); err != nil {
		t.Fatal(err)
	}
	if got, err := vfs.ReadFile(rp.FS(), "/d/b"); err != nil || string(got) != "hell" {
		t.Fatalf("the link after the truncate: %q, %v", got, err)
	}
	if err := NewReplayer(nil, []Op{SyncOp("/x", 9)}).Advance(1); err == nil {
		t.Fatal("a sync through a handle never opened replayed")
	}
	if ops[0].Changes() == ops[10].Changes() {
		t.Fatal("Changes: a mkdir and a close alike")
	}
}
