package lazyfs

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/in-mem/inmem/vfs"
)

// fake is a controlled that records the policies it crashed with.
type fake struct{ crashed []vfs.CrashPolicy }

func (f *fake) Crash(p vfs.CrashPolicy) (Report, error) {
	f.crashed = append(f.crashed, p)
	return Report{Policy: p.Spec(), Crash: uint64(len(f.crashed)), Changes: []vfs.Fate{}}, nil
}
func (f *fake) Unsynced() Report { return Report{Changes: []vfs.Fate{}} }
func (f *fake) Clear() error     { return nil }
func (f *fake) Stats() Stats     { return Stats{Files: 1} }

// TestControl_Protocol: every command's answer, bad commands answered
// with an error on an open connection, and a line too long refused.
func TestControl_Protocol(t *testing.T) {
	tcs := []struct{ line, want string }{
		{"crash", `{"ok":true,"report":{"policy":"drop","crash":1,"changes":[],"kept":0,"dropped":0,"torn":0}}`},
		{"  crash   reorder:9 ", `{"ok":true,"report":{"policy":"reorder:9","crash":2,"changes":[],"kept":0,"dropped":0,"torn":0}}`},
		{"report", `{"ok":true,"report":{"changes":[],"kept":0,"dropped":0,"torn":0}}`},
		{"clear", `{"ok":true}`},
		{"stats", `{"ok":true,"stats":{"files":1,"dirs":0,"bytes":0,"unsynced":0,"unsynced_bytes":0,"writes":0,"syncs":0,"dir_syncs":0,"crashes":0}}`},
		{"crash random", `{"ok":false,"error":"inmem/vfs: unknown crash policy \"random\": random needs its seed (random:SEED)"}`},
		{"stats now", `{"ok":false,"error":"bad command \"stats now\": want crash [POLICY], report, clear, stats or help"}`},
		{"\x00\xff", `{"ok":false,"error":"bad command \"\\x00\\xff\": want crash [POLICY], report, clear, stats or help"}`},
	}
	f := &fake{}
	client, server := net.Pipe()
	go serveConn(server, f)
	defer client.Close()
	rd := bufio.NewReader(client)
	for _, tc := range tcs {
		if _, err := client.Write([]byte(tc.line + "\n\n")); err != nil {
			t.Fatal(err)
		}
		got, err := rd.ReadString('\n')
		var want, have any
		json.Unmarshal([]byte(tc.want), &want)
		if err != nil || json.Unmarshal([]byte(got), &have) != nil || !jsonEqual(have, want) {
			t.Errorf("%q: got %s (%v), want %s", tc.line, got, err, tc.want)
		}
	}
	go client.Write([]byte(strings.Repeat("x", maxLine+1) + "\n"))
	if got, _ := rd.ReadString('\n'); !strings.Contains(got, "at most 4096 bytes") {
		t.Errorf("a line too long: %q", got)
	}
	if _, err := rd.ReadString('\n'); err == nil {
		t.Error("the connection stayed open after a line too long")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
