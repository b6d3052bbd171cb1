package main

import (
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/in-mem/inmem"
)

// valueOf returns the value of a version in JSON output, "<none>" for none.
func valueOf(v kvVersion) string {
	if v.Value == nil {
		return "<none>"
	}
	return *v.Value
}

func TestKV_PutGetRoundTrip(t *testing.T) {
	dir := newDir(t)
	out := mustRun(t, "kv", "put", "--dir", dir, "orders", "o-17", `{"total": 12}`)
	if out != "put \"o-17\" in run \"orders\" at version 1\n" {
		t.Errorf("put printed %q", out)
	}
	if out := mustRun(t, "kv", "get", "--dir", dir, "orders", "o-17"); out != "{\"total\": 12}\n" {
		t.Errorf("get printed %q", out)
	}
	mustRun(t, "kv", "put", "--dir", dir, "orders", "o-17", "second")
	got := fromJSON[kvVersion](t, mustRun(t, "kv", "get", "--dir", dir, "--json", "orders", "o-17"))
	if valueOf(got) != "second" || got.Version != 2 || got.Deleted || got.Timestamp == "" {
		t.Errorf("get --json = %+v", got)
	}
	if out := mustRun(t, "kv", "get", "--dir", dir, "--version", "1", "orders", "o-17"); out != "{\"total\": 12}\n" {
		t.Errorf("get --version 1 printed %q", out)
	}
}

func TestKV_History(t *testing.T) {
	dir := newDir(t)
	for _, v := range []string{"a", "b"} {
		mustRun(t, "kv", "put", "--dir", dir, "r", "k", v)
	}
	if out := mustRun(t, "kv", "del", "--dir", dir, "r", "k"); out != "deleted \"k\" from run \"r\" at version 3\n" {
		t.Errorf("del printed %q", out)
	}
	out := mustRun(t, "kv", "history", "--dir", dir, "r", "k")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{`^VERSION\s+TIMESTAMP\s+VALUE$`, `^1\s+\S+Z\s+a$`, `^2\s+\S+Z\s+b$`, `^3\s+\S+Z\s+\(deleted\)$`}
	if len(lines) != len(want) {
		t.Fatalf("history printed %q", out)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("history line %d = %q, want %s", i, lines[i], re)
		}
	}
	h := fromJSON[struct {
		Run, Key string
		Versions []kvVersion
	}](t, mustRun(t, "kv", "history", "--dir", dir, "--json", "r", "k"))
	if len(h.Versions) != 3 || valueOf(h.Versions[0]) != "a" || !h.Versions[2].Deleted || h.Versions[2].Value != nil {
		t.Errorf("history --json = %+v", h)
	}
	if _, err := runCLI(t, "kv", "get", "--dir", dir, "r", "k"); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("get after del: %v, want ErrNotFound", err)
	}
}

func TestKV_Keys(t *testing.T) {
	dir := newDir(t)
	for _, k := range []string{"user/2", "user/1", "order/1", "bin\x01ary"} {
		mustRun(t, "kv", "put", "--dir", dir, "r", k, "v")
	}
	if out := mustRun(t, "kv", "keys", "--dir", dir, "r", "user/"); out != "user/1\nuser/2\n" {
		t.Errorf("keys user/ printed %q", out)
	}
	if out := mustRun(t, "kv", "keys", "--dir", dir, "r"); out != "\"bin\\x01ary\"\norder/1\nuser/1\nuser/2\n" {
		t.Errorf("keys printed %q", out)
	}
	got := fromJSON[struct{ Keys []keyJSON }](t, mustRun(t, "kv", "keys", "--dir", dir, "--json", "r", "none"))
	if got.Keys == nil || len(got.Keys) != 0 {
		t.Errorf("keys --json with no match = %#v, want []", got.Keys)
	}
}

// TestKV_KeysJSON_Binary: --json prints keys that are not UTF-8 in base64,
// as it prints such values, so that no byte is lost; so are run names.
func TestKV_KeysJSON_Binary(t *testing.T) {
	dir := newDir(t)
	keys := []string{"\xff\xfe\x00k", "plain", "\xc3("}
	for _, k := range keys {
		mustRun(t, "kv", "put", "--dir", dir, "\xffrun", k, "v")
	}
	got := fromJSON[struct{ Keys []keyJSON }](t, mustRun(t, "kv", "keys", "--dir", dir, "--json", "\xffrun"))
	var back []string
	for _, k := range got.Keys {
		switch k.Encoding {
		case "":
			back = append(back, k.Key)
		case "base64":
			b, err := base64.StdEncoding.DecodeString(k.Key)
			if err != nil {
				t.Fatal(err)
			}
			back = append(back, string(b))
		default:
			t.Fatalf("key %+v: unknown encoding", k)
		}
	}
	if want := []string{"plain", "\xc3(", "\xff\xfe\x00k"}; !slices.Equal(back, want) {
		t.Errorf("keys --json decode to %q, want %q", back, want)
	}
	runs := fromJSON[[]runJSON](t, mustRun(t, "runs", "--dir", dir, "--json"))
	if len(runs) != 1 || runs[0].NameEncoding != "base64" || runs[0].Name != base64.StdEncoding.EncodeToString([]byte("\xffrun")) {
		t.Errorf("runs --json = %+v", runs)
	}
}

func TestKV_Errors(t *testing.T) {
	dir := newDir(t)
	mustRun(t, "kv", "put", "--dir", dir, "r", "k", "v")
	tcs := []struct {
		name string
		args []string
		is   error
	}{
		{"get missing run", []string{"kv", "get", "r2", "k"}, inmem.ErrRunNotFound},
		{"del missing run", []string{"kv", "del", "r2", "k"}, inmem.ErrRunNotFound},
		{"history missing run", []string{"kv", "history", "r2", "k"}, inmem.ErrRunNotFound},
		{"keys missing run", []string{"kv", "keys", "r2"}, inmem.ErrRunNotFound},
		{"get missing key", []string{"kv", "get", "r", "nope"}, inmem.ErrNotFound},
		{"del missing key", []string{"kv", "del", "r", "nope"}, inmem.ErrNotFound},
		{"get before first version", []string{"kv", "get", "--version", "0", "r", "k"}, inmem.ErrNotFound},
		{"put empty run name", []string{"kv", "put", "", "k", "v"}, inmem.ErrInvalid},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, append(tc.args, "--dir", dir)...)
			if !errors.Is(err, tc.is) || out != "" {
				t.Errorf("err %v, output %q; want %v and no output", err, out, tc.is)
			}
		})
	}
	if _, err := runCLI(t, "runs", "--dir", dir); err != nil {
		t.Errorf("the failed writes left the database unusable: %v", err)
	}
}
