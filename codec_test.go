package inmem_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// TestDB_Open_CodecMismatch checks that opening with another codec than the
// database was created with, including another encryption key, is refused
// with ErrCodecMismatch and changes nothing on disk.
func TestDB_Open_CodecMismatch(t *testing.T) {
	tcs := []struct {
		name         string
		create, open inmem.Options
	}{
		{"identity then key", inmem.Options{}, inmem.Options{EncryptionKey: key(1)}},
		{"key then none", inmem.Options{EncryptionKey: key(1)}, inmem.Options{}},
		{"wrong key", inmem.Options{EncryptionKey: key(1)}, inmem.Options{EncryptionKey: key(2)}},
		{"custom then identity", inmem.Options{Codec: xorCodec(7)}, inmem.Options{}},
		{"custom with another parameter", inmem.Options{Codec: xorCodec(7)}, inmem.Options{Codec: xorCodec(8)}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			db := openMem(t, mem, &tc.create)
			run, _ := db.CreateRun("r")
			db.KVPut(run, "k", []byte("v"))
			db.Close()
			before := files(t, mem, testDir)
			tc.open.FS = mem
			_, err := inmem.Open(testDir, &tc.open)
			if !errors.Is(err, inmem.ErrCodecMismatch) {
				t.Fatalf("Open = %v, want ErrCodecMismatch", err)
			}
			if err := sameFiles(before, files(t, mem, testDir)); err != nil {
				t.Fatal(err)
			}
			db = openMem(t, mem, &tc.create)
			defer db.Close()
			if v := mustGet(t, db, run, "k"); string(v.Value) != "v" {
				t.Fatalf("value after the refused open: %q", v.Value)
			}
		})
	}
}

// TestDB_Encrypted_NoPlaintextOnDisk writes distinctive strings as run
// names, keys, values, payloads and cells, through the log, a checkpoint
// and a compaction, and checks no file holds any of them; then that the
// database reopens with its key to the same state.
func TestDB_Encrypted_NoPlaintextOnDisk(t *testing.T) {
	seed := testSeed(t)
	opts := &inmem.Options{EncryptionKey: key(9), SegmentSize: 8 << 10}
	mem := vfs.NewMemFS()
	db := openMem(t, mem, opts)
	w := newWorkload(seed)
	w.valueSize, w.retention, w.tag = 40, true, "secret-writer/"
	w.run(t, db, 150)
	if _, err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	w.run(t, db, 150)
	w.compact(t, db, inmem.CompactFull)
	w.run(t, db, 50)
	before := capture(t, db, w.m)
	db.Close()

	var needles []string
	for _, op := range w.m.Ops() {
		for _, wr := range op.Writes {
			needles = append(needles, wr.Run, wr.Key, string(wr.Value))
		}
	}
	all := files(t, mem, testDir)
	for path, data := range all {
		for _, n := range needles {
			// The unique prefix is enough: values differ in their op number.
			if n = strings.TrimRight(n, "."); len(n) >= 8 && bytes.Contains(data, []byte(n)) {
				t.Fatalf("%s holds the plaintext %q", path, n)
			}
		}
		if bytes.Contains(data, []byte("secret-writer")) {
			t.Fatalf("%s holds the plaintext name prefix", path)
		}
	}
	db = openMem(t, mem, opts)
	defer db.Close()
	checkSame(t, before, capture(t, db, w.m), "encrypted database reopened differently")
}

// TestDB_Codec_Custom checks that a user codec transforms every persisted
// byte and round-trips.
func TestDB_Codec_Custom(t *testing.T) {
	mem := vfs.NewMemFS()
	opts := &inmem.Options{Codec: xorCodec(0x5a)}
	db := openMem(t, mem, opts)
	w := newWorkload(testSeed(t))
	w.tag = "plainname/"
	w.run(t, db, 100)
	db.Checkpoint()
	w.run(t, db, 50)
	before := capture(t, db, w.m)
	db.Close()
	for path, data := range files(t, mem, testDir) {
		if bytes.Contains(data, []byte("plainname")) {
			t.Fatalf("%s holds plaintext though the codec transforms everything", path)
		}
	}
	db = openMem(t, mem, opts)
	defer db.Close()
	checkSame(t, before, capture(t, db, w.m), "reopened differently")
}

// TestNewAESGCMCodec checks key validation and that the ID names the key.
func TestNewAESGCMCodec(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := inmem.NewAESGCMCodec(make([]byte, n)); !errors.Is(err, inmem.ErrInvalid) {
			t.Errorf("NewAESGCMCodec(%d bytes) = %v, want ErrInvalid", n, err)
		}
	}
	a, _ := inmem.NewAESGCMCodec(key(1))
	a2, _ := inmem.NewAESGCMCodec(key(1))
	b, _ := inmem.NewAESGCMCodec(key(2))
	if a.ID() != a2.ID() || a.ID() == b.ID() || !strings.HasPrefix(a.ID(), "aes-256-gcm:") {
		t.Fatalf("IDs %q %q %q", a.ID(), a2.ID(), b.ID())
	}
	enc, err := a.Encode([]byte("prefix"), []byte("hello"))
	if err != nil || !bytes.HasPrefix(enc, []byte("prefix")) {
		t.Fatalf("Encode = %q, %v", enc, err)
	}
	dec, err := a2.Decode(nil, enc[len("prefix"):])
	if err != nil || string(dec) != "hello" {
		t.Fatalf("Decode = %q, %v", dec, err)
	}
	if _, err := b.Decode(nil, enc[len("prefix"):]); err == nil {
		t.Fatal("another key decoded the ciphertext")
	}
	if _, err := a.Decode(nil, enc[len("prefix"):len("prefix")+4]); err == nil {
		t.Fatal("a short ciphertext decoded")
	}
}

// xorCodec is a test codec: it XORs every byte and appends a marker
// byte it checks on decode.
type xorCodec byte

func (c xorCodec) ID() string { return fmt.Sprintf("xor-%d", byte(c)) }

func (c xorCodec) Encode(dst, src []byte) ([]byte, error) {
	for _, b := range src {
		dst = append(dst, b^byte(c))
	}
	return append(dst, byte(c)), nil
}

func (c xorCodec) Decode(dst, src []byte) ([]byte, error) {
	if len(src) == 0 || src[len(src)-1] != byte(c) {
		return nil, errors.New("xor codec: bad marker")
	}
	for _, b := range src[:len(src)-1] {
		dst = append(dst, b^byte(c))
	}
	return dst, nil
}
