package inmem_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// allocated returns the bytes fn allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDB_TooLarge_RefusedBeforeCopy: a write bigger than MaxRecordSize is
// refused with ErrTooLarge before its bytes are copied or encoded, in every
// durability mode and through every call: refusing a 64 MiB value
// allocates next to nothing, and nothing is written.
func TestDB_TooLarge_RefusedBeforeCopy(t *testing.T) {
	huge := make([]byte, 64<<20)
	for _, d := range []inmem.Durability{inmem.Strict, inmem.Buffered, inmem.InMemory} {
		t.Run(d.String(), func(t *testing.T) {
			// Inline preparation: no zeros written ahead after a commit returns.
			db, mem := newTestDB(t, &inmem.Options{Durability: d, Preparation: inmem.PrepareInline})
			run, err := db.CreateRun("r")
			if err != nil {
				t.Fatal(err)
			}
			before := files(t, mem, "/")
			writes := map[string]func() error{
				"KVPut":       func() error { return second(db.KVPut(run, "k", huge)) },
				"StateSet":    func() error { return second(db.StateSet(run, "c", huge)) },
				"StateCAS":    func() error { return second(db.StateCAS(run, "c", 0, huge)) },
				"EventAppend": func() error { return second(db.EventAppend(run, huge)) },
				"Update": func() error {
					return db.Update(func(tx *inmem.Tx) error { return tx.KVPut(run, "k", huge) })
				},
			}
			for name, write := range writes {
				var err error
				if n := allocated(func() { err = write() }); n > 1<<20 {
					t.Errorf("%s allocated %d bytes to refuse a %d-byte value", name, n, len(huge))
				}
				if !errors.Is(err, inmem.ErrTooLarge) {
					t.Errorf("%s of %d bytes = %v, want ErrTooLarge", name, len(huge), err)
				}
			}
			if v := db.LastVersion(); v != 1 {
				t.Errorf("refused writes committed: last version %d", v)
			}
			if err := sameFiles(before, files(t, mem, "/")); err != nil {
				t.Errorf("refused writes changed the disk: %v", err)
			}
		})
	}
}

// TestDB_TooLarge_Boundary: the largest value accepted makes a WAL record
// of exactly MaxRecordSize bytes; one byte more is refused.
func TestDB_TooLarge_Boundary(t *testing.T) {
	const limit = 8 << 10
	db, mem := newTestDB(t, &inmem.Options{SegmentSize: 64 << 10, MaxRecordSize: limit})
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	n := limit
	for ; n > 0; n-- {
		if _, err := db.KVPut(run, "k", make([]byte, n+1)); !errors.Is(err, inmem.ErrTooLarge) {
			t.Fatalf("KVPut of %d bytes = %v, want ErrTooLarge", n+1, err)
		}
		if _, err := db.KVPut(run, "k", make([]byte, n)); err == nil {
			break
		}
	}
	seg := testDir + "/" + wal.DirName + "/" + wal.SegmentName(1)
	data, err := vfs.ReadFile(mem, seg)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for off := wal.HeaderSize; off < len(data) && !allZero(data[off:]); {
		_, size, err := wal.DecodeRecord(data[off:], int64(off), limit)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, size)
		off += size
	}
	if last := sizes[len(sizes)-1]; last != limit {
		t.Fatalf("the largest accepted value (%d bytes) made a %d-byte record, want %d", n, last, limit)
	}
}

// TestTx_TooLarge_Accumulated: a transaction is refused at the write that
// takes it over the limit; replacing a key's value counts only the new one.
func TestTx_TooLarge_Accumulated(t *testing.T) {
	const limit = 8 << 10
	db, _ := newTestDB(t, &inmem.Options{SegmentSize: 64 << 10, MaxRecordSize: limit})
	run, err := db.CreateRun("r")
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1000)
	var refusedAt int
	err = db.Update(func(tx *inmem.Tx) error {
		for i := range 20 {
			if err := tx.KVPut(run, fmt.Sprint(i), chunk); err != nil {
				refusedAt = i
				return err
			}
		}
		return nil
	})
	// Each put of a 1-byte key and a 1000-byte value encodes to 1021 bytes,
	// and a record adds 34: seven fit in 8192 bytes, the eighth does not.
	if !errors.Is(err, inmem.ErrTooLarge) || refusedAt != 7 {
		t.Fatalf("20 puts of 1000 bytes = %v at put %d, want ErrTooLarge at put 7", err, refusedAt)
	}
	err = db.Update(func(tx *inmem.Tx) error {
		for range 50 {
			if err := tx.StateSet(run, "cell", chunk); err != nil {
				return err
			}
		}
		return tx.KVPut(run, "small", []byte(strings.Repeat("x", 10)))
	})
	if err != nil {
		t.Fatalf("50 writes of one cell = %v: only the last should count", err)
	}
}
