package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
)

func TestReadKeyFile(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	tcs := []struct {
		name    string
		content []byte
		ok      bool
	}{
		{"raw", key, true},
		{"hex", []byte(hex.EncodeToString(key)), true},
		{"hex with newline", []byte(hex.EncodeToString(key) + "\n"), true},
		{"short raw", key[:16], false},
		{"short hex", []byte(hex.EncodeToString(key[:16])), false},
		{"not hex", []byte(strings.Repeat("zz", 32)), false},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readKeyFile(path)
			if tc.ok && (err != nil || !bytes.Equal(got, key)) {
				t.Errorf("readKeyFile = %x, %v; want the key", got, err)
			}
			if !tc.ok && !errors.Is(err, inmem.ErrInvalid) {
				t.Errorf("readKeyFile = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := readKeyFile(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key file: %v", err)
	}
}

// noDatabaseCommands need an existing database; run on a directory that
// holds none, each exits with status 4, changing nothing.
var noDatabaseCommands = [][]string{
	{"kv", "get", "r", "k"}, {"kv", "keys", "r"}, {"kv", "history", "r", "k"}, {"kv", "del", "r", "k"},
	{"runs"}, {"event", "range", "r"}, {"state", "get", "r", "c"}, {"checkpoint"}, {"compact"},
	{"retention", "get", "r"}, {"retention", "set", "r", "last:2"}, {"export", "elsewhere"},
	{"inspect"}, {"verify"}, {"repair"},
}

func TestGlobals_ReadCommandsDoNotCreate(t *testing.T) {
	dir := newDir(t)
	for _, args := range noDatabaseCommands {
		var out, errOut bytes.Buffer
		code := execute(append(args, "--dir", dir), &out, &errOut)
		if code != exitNoDB || !strings.Contains(errOut.String(), "error: inmem: no database in "+dir+"\n") {
			t.Errorf("inmem %v on no database: exit %d, %q", args, code, errOut.String())
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command created %s", dir)
	}
}

// TestGlobals_CreationCutShort: a database whose creation was cut short
// (no MANIFEST, no data) is no database for every command that needs one,
// with one message and exit status 4, and nothing changes; the next write
// finishes the creation.
func TestGlobals_CreationCutShort(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v")
	for _, p := range []string{"MANIFEST", "WAL/wal-000001.seg"} {
		if err := os.Remove(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, dir)
	for _, args := range noDatabaseCommands {
		var out, errOut bytes.Buffer
		code := execute(append(args, "--dir", dir), &out, &errOut)
		if code != exitNoDB || !strings.Contains(errOut.String(), "creation was cut short before it wrote the MANIFEST") {
			t.Errorf("inmem %v on a creation cut short: exit %d, %q", args, code, errOut.String())
		}
	}
	checkUnchanged(t, dir, before)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v2")
	if out := mustRun(t, "kv", "get", "--dir", dir, "r", "k"); out != "v2\n" {
		t.Errorf("after the creation was finished: %q", out)
	}
}

func TestGlobals_Locked(t *testing.T) {
	dir := newDir(t)
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = runCLI(t, "kv", "put", "--dir", dir, "r", "k", "v")
	if !errors.Is(err, inmem.ErrLocked) || !strings.Contains(err.Error(), "another process has the database open") {
		t.Errorf("put on an open database: %v", err)
	}
}

func TestGlobals_DirArg(t *testing.T) {
	g := &globals{dir: "a"}
	if d, err := g.dirArg([]string{"a/"}); err != nil || d != "a/" {
		t.Errorf("same dir twice: %q, %v", d, err)
	}
	if _, err := g.dirArg([]string{"b"}); exitCode(err) != exitUsage {
		t.Errorf("two dirs: %v, want a usage error", err)
	}
	if d, err := g.dirArg(nil); err != nil || d != "a" {
		t.Errorf("--dir only: %q, %v", d, err)
	}
}

func TestGlobals_Buffered(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "--durability", "buffered", "r", "k", "v")
	if out := mustRun(t, "kv", "get", "--dir", dir, "r", "k"); out != "v\n" {
		t.Errorf("get after a buffered put = %q", out)
	}
}

// TestGlobals_BadNamesChangeNothing: a name the database would refuse is a
// usage error found before anything is opened: no database is created for
// a write that cannot happen.
func TestGlobals_BadNamesChangeNothing(t *testing.T) {
	dir := newDir(t)
	long := strings.Repeat("x", inmem.MaxKeySize+1)
	for _, args := range [][]string{
		{"kv", "put", "", "k", "v"}, {"kv", "put", "r", long, "v"}, {"kv", "put", long, "k", "v"},
		{"event", "append", "", "e"}, {"state", "set", "r", "", "v"}, {"state", "cas", "r", "", "0", "v"},
		{"state", "set", "r", long, "v"}, {"kv", "get", "", "k"}, {"state", "get", "r", ""},
	} {
		var out, errOut bytes.Buffer
		code := execute(append(args, "--dir", dir), &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), "invalid argument") {
			t.Errorf("inmem %.60q: exit %d, %q; want a usage error", args, code, errOut.String())
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused write created %s", dir)
	}
}
