package inmem_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// TestView_KVGet: a View reads the latest acknowledged value, borrowed, with
// its version; a missing or deleted key is ErrNotFound itself, a missing
// run ErrRunNotFound, and a closed database ErrClosed.
func TestView_KVGet(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	db.KVPut(run, "a", []byte("one"))
	v2, _ := db.KVPut(run, "a", []byte("two"))
	db.KVPut(run, "gone", []byte("x"))
	if err := db.KVDelete(run, "gone"); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(v *inmem.View) error {
		val, ver, err := v.KVGet(run, "a")
		if err != nil || !bytes.Equal(val, []byte("two")) || ver != v2 {
			t.Errorf("KVGet(a) = %q, v%d, %v; want two, v%d", val, ver, err, v2)
		}
		for _, k := range []string{"gone", "never"} {
			if _, _, err := v.KVGet(run, k); err != inmem.ErrNotFound {
				t.Errorf("KVGet(%s) error %v, want ErrNotFound itself", k, err)
			}
		}
		if _, _, err := v.KVGet(inmem.RunID{1}, "a"); !errors.Is(err, inmem.ErrRunNotFound) {
			t.Errorf("KVGet of a missing run: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sentinel := errors.New("from fn")
	if err := db.View(func(*inmem.View) error { return sentinel }); err != sentinel {
		t.Fatalf("View returned %v, want fn's error", err)
	}
	db.Close()
	if err := db.View(func(*inmem.View) error { return nil }); !errors.Is(err, inmem.ErrClosed) {
		t.Fatalf("View on a closed database: %v", err)
	}
}

// TestView_NoAllocs: a borrowed read allocates nothing.
func TestView_NoAllocs(t *testing.T) {
	db := openMem(t, vfs.NewMemFS(), nil)
	defer db.Close()
	run, _ := db.CreateRun("r")
	db.KVPut(run, "k", bytes.Repeat([]byte("v"), 100))
	var n int
	read := func(v *inmem.View) error {
		val, _, err := v.KVGet(run, "k")
		n += len(val)
		return err
	}
	if a := testing.AllocsPerRun(100, func() { db.View(read) }); a != 0 {
		t.Fatalf("View + KVGet allocated %.1f times per read", a)
	}
}

// TestView_KVGet_AfterReopen: what View reads after recovery (a snapshot
// and the log) is what was written: an empty value stays a value, a
// deleted key stays deleted, a key written again reads its newest value.
func TestView_KVGet_AfterReopen(t *testing.T) {
	mem := vfs.NewMemFS()
	db := openMem(t, mem, nil)
	run, _ := db.CreateRun("r")
	db.KVPut(run, "empty", []byte{})
	db.KVPut(run, "del", []byte("x"))
	db.KVDelete(run, "del")
	db.KVPut(run, "twice", []byte("1"))
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	db.KVPut(run, "twice", []byte("2"))
	db.KVPut(run, "empty2", nil)
	db.KVPut(run, "del2", []byte("y"))
	db.KVDelete(run, "del2")
	db.Close()
	db = openMem(t, mem, nil)
	defer db.Close()
	db.View(func(v *inmem.View) error {
		for k, want := range map[string]string{"empty": "", "twice": "2", "empty2": ""} {
			if val, _, err := v.KVGet(run, k); err != nil || string(val) != want {
				t.Errorf("KVGet(%s) = %q, %v; want %q", k, val, err, want)
			}
		}
		for _, k := range []string{"del", "del2"} {
			if _, _, err := v.KVGet(run, k); err != inmem.ErrNotFound {
				t.Errorf("KVGet(%s) error %v, want ErrNotFound", k, err)
			}
		}
		return nil
	})
}
