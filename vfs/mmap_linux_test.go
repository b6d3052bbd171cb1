package vfs_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/in-mem/inmem/vfs"
)

// TestOS_MapRead: a file on a local filesystem maps and reads back as
// written, and keeps reading after its descriptor is closed.
func TestOS_MapRead(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("0123456789"), 1000)
	w, err := vfs.OS.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := vfs.OS.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.(vfs.ReadMapper).MapRead(int64(len(want)))
	r.Close()
	if err != nil {
		t.Skipf("the temporary directory's filesystem is not mapped: %v", err)
	}
	defer m.Close()
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatalf("the mapping holds %d bytes unlike the %d written", len(m.Bytes()), len(want))
	}
}
