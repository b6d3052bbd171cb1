package inmem

import (
	"errors"
	"testing"

	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/vfs"
)

func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// OpenSnapshotForTest returns a read-only view of exactly what the snapshot
// named by the current MANIFEST holds, as recovery loads it before replaying
// any log record, and its watermark. Black-box tests use it to check that a
// checkpoint taken under concurrent writers is one point in time.
func OpenSnapshotForTest(db *DB) (*DB, Version, error) {
	db.maintMu.Lock()
	m := db.manifest
	db.maintMu.Unlock()
	view := &DB{opts: db.opts}
	if m.SnapshotID == 0 {
		return nil, 0, invalidf("no snapshot")
	}
	s, err := loadSnapshot(db.opts, db.snapDir(), m)
	if err != nil {
		return nil, 0, err
	}
	view.store = s
	view.visible.Store(m.Watermark)
	return view, Version(m.Watermark), nil
}

// TestLoadSnapshot_HeaderMismatch checks that a snapshot whose header does
// not match the MANIFEST (another id, watermark or database) is corruption.
func TestLoadSnapshot_HeaderMismatch(t *testing.T) {
	db, err := Open("db", &Options{FS: vfs.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, _ := db.CreateRun("r")
	db.KVPut(run, "k", []byte("v"))
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*manifest.Manifest){
		"watermark": func(m *manifest.Manifest) { m.Watermark++ },
		"uuid":      func(m *manifest.Manifest) { m.UUID[0] ^= 1 },
		"codec":     func(m *manifest.Manifest) { m.CodecID = "other" },
	} {
		m := db.manifest
		change(&m)
		_, err := loadSnapshot(db.opts, db.snapDir(), m)
		if !isCorrupt(err) {
			t.Errorf("%s mismatch: loadSnapshot = %v, want corruption", name, err)
		}
	}
	m := db.manifest
	m.SnapshotID = 99
	if _, err := loadSnapshot(db.opts, db.snapDir(), m); !isCorrupt(err) {
		t.Errorf("missing %s: loadSnapshot = %v, want corruption", snapshot.FileName(99), err)
	}
}
