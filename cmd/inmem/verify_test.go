package main

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
)

func TestVerify_Clean(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 5)
	mustRun(t, "kv", "del", "--dir", dir, "r", "k0")
	before := tree(t, dir)
	out := mustRun(t, "verify", dir)
	checkUnchanged(t, dir, before)
	for _, re := range []string{
		`(?m)^database\s+\S+: ok$`, `(?m)^log\s+1 segments, 8 records replayed$`, `(?m)^runs\s+1$`,
		`(?m)^keys\s+3 \(6 versions\)$`, `(?m)^events\s+1$`, `(?m)^cells\s+1$`,
		`(?m)^last version\s+8$`, `(?m)^torn tail\s+none$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("verify output lacks %s:\n%s", re, out)
		}
	}
	r := fromJSON[verifyJSON](t, mustRun(t, "verify", "--json", "--dir", dir))
	if !r.OK || r.VerifyReport == nil || r.Keys != 3 || r.LastVersion != 8 || r.TornTail || r.Corruption != nil {
		t.Errorf("verify --json = %+v", r)
	}
}

func TestVerify_TornTail(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 4)
	cut := tearTail(t, dir)
	before := tree(t, dir)
	out := mustRun(t, "verify", dir)
	checkUnchanged(t, dir, before)
	want := fmt.Sprintf("%s: opening cuts 10 bytes at offset %d", segPath(dir), cut)
	if !strings.Contains(out, want) || !regexp.MustCompile(`(?m)^last version\s+5$`).MatchString(out) {
		t.Errorf("verify output lacks %q and last version 5:\n%s", want, out)
	}
}

func TestVerify_CorruptMiddleRecord(t *testing.T) {
	dir := newDir(t)
	fillDB(t, dir, 6)
	offs := recordOffsets(t, segPath(dir))
	bad := offs[len(offs)/2]
	flipByte(t, segPath(dir), bad+20)
	before := tree(t, dir)

	var out, errOut bytes.Buffer
	code := execute([]string{"verify", dir}, &out, &errOut)
	checkUnchanged(t, dir, before)
	want := fmt.Sprintf("corruption in %s at offset %d: record checksum mismatch", segPath(dir), bad)
	if code != exitCorrupt || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), exitCorrupt, want)
	}

	jsonOut, err := runCLI(t, "verify", "--json", dir)
	var ce *inmem.CorruptionError
	if !errors.As(err, &ce) || ce.File != segPath(dir) || ce.Offset != bad {
		t.Errorf("verify --json error %v, want corruption at %s offset %d", err, segPath(dir), bad)
	}
	r := fromJSON[verifyJSON](t, jsonOut)
	if r.OK || r.Corruption == nil || r.Corruption.File != segPath(dir) || r.Corruption.Offset != bad ||
		!strings.Contains(r.Corruption.Reason, "checksum mismatch") {
		t.Errorf("verify --json printed %s", jsonOut)
	}
	checkUnchanged(t, dir, before)
}

func TestVerify_Encrypted(t *testing.T) {
	dir := newDir(t)
	key := writeKey(t, 9)
	fillDB(t, dir, 3, "--encryption-key-file", key)
	before := tree(t, dir)
	out := mustRun(t, "verify", dir, "--encryption-key-file", key)
	if !regexp.MustCompile(`(?m)^keys\s+3 \(3 versions\)$`).MatchString(out) {
		t.Errorf("verify with the key:\n%s", out)
	}
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"verify", dir}, &stdout, &stderr); code != exitError ||
		!strings.Contains(stderr.String(), "pass --encryption-key-file") {
		t.Errorf("verify without the key: exit %d, %q", code, stderr.String())
	}
	_, err := runCLI(t, "verify", dir, "--encryption-key-file", writeKey(t, 1))
	if !errors.Is(err, inmem.ErrCodecMismatch) || !strings.Contains(err.Error(), "does not match the database's codec") {
		t.Errorf("verify with a wrong key: %v", err)
	}
	checkUnchanged(t, dir, before)
}
