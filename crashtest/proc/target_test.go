package proc_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

// init lets this test binary be a target that breaks the protocol, before
// TestMain would run the tests.
func init() {
	if os.Getenv(badTargetEnv) == "1" {
		os.Exit(badTarget())
	}
}

// badTargetEnv makes the test binary a target that breaks the protocol:
// it answers every get with a line that is not JSON.
const badTargetEnv = "INMEM_CRASHTEST_BAD_TARGET"

func badTarget() int {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"found"`) {
				fmt.Println("this is not a reply")
				continue
			}
			fmt.Println(sc.Text())
		}
	}()
	err := proc.ServeTarget(os.Stdin, pw, crashtest.InmemTargets())
	pw.Close()
	if err != nil {
		return 1
	}
	return 0
}

// targetEnv makes the test binary a target child serving in-mem.
var targetEnv = []string{proc.TargetChildEnv + "=1"}

// serve runs ServeTarget on the requests (one JSON object a line) and
// returns its replies by id.
func serve(t *testing.T, requests ...string) map[int]proc.Reply {
	t.Helper()
	var out bytes.Buffer
	if err := proc.ServeTarget(strings.NewReader(strings.Join(requests, "\n")+"\n"), &out, crashtest.InmemTargets()); err != nil {
		t.Fatal(err)
	}
	replies := map[int]proc.Reply{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r proc.Reply
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		replies[r.ID] = r
	}
	return replies
}

// TestServeTarget_Protocol speaks the target protocol to in-mem's Target:
// every op, a reopen, and the errors a target answers instead of dying.
func TestServeTarget_Protocol(t *testing.T) {
	dir := t.TempDir()
	rs := serve(t,
		`{"id":1,"op":"hello"}`,
		`{"id":12,"op":"open","target":"nosuch","dir":"x"}`,
		`{"id":2,"op":"open","target":"inmem","dir":"`+dir+`"}`,
		`{"id":3,"op":"put","key":"a","value":"6869"}`,
		`{"id":20,"op":"close"}`, // requests for one key are never outstanding together
		`{"id":21,"op":"open","target":"inmem","dir":"`+dir+`"}`,
		`{"id":4,"op":"batch","ops":[{"op":"put","key":"b","value":"00ff"},{"op":"delete","key":"a"},{"op":"delete","key":"never"}]}`,
		`{"id":5,"op":"sync"}`,
		`{"id":6,"op":"close"}`,
		`{"id":7,"op":"open","target":"inmem","dir":"`+dir+`"}`,
		`{"id":8,"op":"get","key":"a"}`,
		`{"id":9,"op":"get","key":"b"}`,
		`{"id":10,"op":"put","key":"c","value":"zz"}`,
		`{"id":11,"op":"frobnicate"}`,
		`not json`,
	)
	if h := rs[1]; !h.OK || h.Protocol != proc.ProtocolVersion || len(h.Targets) != 2 || !h.Targets[0].PowerSafe || !h.Targets[0].AtomicBatch {
		t.Fatalf("hello: %+v", h)
	}
	for _, id := range []int{2, 3, 4, 5, 6, 7, 8, 9, 20, 21} {
		if !rs[id].OK {
			t.Fatalf("request %d failed: %+v", id, rs[id])
		}
	}
	if rs[8].Found || !rs[9].Found || rs[9].Value != "00ff" {
		t.Fatalf("after the reopen: a %+v, b %+v", rs[8], rs[9])
	}
	for _, id := range []int{10, 11, 12, 0} {
		if rs[id].OK || rs[id].Error == "" {
			t.Errorf("request %d: want an error reply, got %+v", id, rs[id])
		}
	}
	if !strings.Contains(rs[12].Error, "inmem-buffered") {
		t.Errorf("an unknown target's error names no known one: %s", rs[12].Error)
	}
}

// TestProcessCrashTester_Target kills a target child serving in-mem through
// the target protocol, with puts, deletes, batches and syncs, and a clean
// reopen every 25 operations: every acknowledged write must survive a kill,
// nothing deleted may come back, no batch may be torn.
func TestProcessCrashTester_Target(t *testing.T) {
	for _, name := range []string{"inmem", "inmem-buffered"} {
		t.Run(name, func(t *testing.T) {
			cfg := killConfig(51)
			cfg.Iterations = 4
			cfg.Env = targetEnv
			cfg.MinRuntime, cfg.MaxRuntime = 30*time.Millisecond, 150*time.Millisecond
			cfg.Target = &proc.TargetWorkload{Name: name, SyncEvery: 10, Lifecycle: proc.Lifecycle{ReopenEvery: 25}}
			res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Results {
				if !r.RecoverySucceeded {
					t.Errorf("%s", r)
				} else {
					t.Logf("%s (phase %s)", r, r.Phase)
				}
			}
			if !res.AllPassed() || res.AckedVerified == 0 || res.AckedLost != 0 {
				t.Fatalf("%d kills, %d failed, %d acknowledged writes verified, %d lost", res.Iterations, res.FailedRecoveries, res.AckedVerified, res.AckedLost)
			}
		})
	}
}

// TestProcessCrashTester_TargetKillFirst: every kill comes right after the
// target recovered from an earlier kill.
func TestProcessCrashTester_TargetKillFirst(t *testing.T) {
	cfg := killConfig(53)
	cfg.Iterations = 3
	cfg.Env = targetEnv
	cfg.KillFirst = 60 * time.Millisecond
	cfg.MinRuntime, cfg.MaxRuntime = 20*time.Millisecond, 80*time.Millisecond
	cfg.Target = &proc.TargetWorkload{Name: "inmem", Lifecycle: proc.Lifecycle{KillFirst: true}}
	res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
	if err != nil {
		t.Fatal(err)
	}
	if !res.AllPassed() || res.AckedVerified == 0 {
		t.Fatalf("%d kills, %d failed, %d verified: %v", res.Iterations, res.FailedRecoveries, res.AckedVerified, res.Results)
	}
}

// TestProcessCrashTester_UnknownTarget: a target the executable does not
// serve is refused, naming those it serves.
func TestProcessCrashTester_UnknownTarget(t *testing.T) {
	cfg := killConfig(55)
	cfg.Iterations, cfg.Env = 1, targetEnv
	cfg.Target = &proc.TargetWorkload{Name: "nosuch"}
	_, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
	if err == nil || !strings.Contains(err.Error(), "inmem-buffered") {
		t.Fatalf("an unknown target: %v", err)
	}
}

func TestParseLifecycle(t *testing.T) {
	tcs := []struct {
		in   string
		want proc.Lifecycle
		bad  bool
	}{
		{"", proc.Lifecycle{}, false},
		{"reopen-every=40,kill-first", proc.Lifecycle{ReopenEvery: 40, KillFirst: true}, false},
		{"kill-first", proc.Lifecycle{KillFirst: true}, false},
		{"reopen-every=0", proc.Lifecycle{}, true},
		{"reboot", proc.Lifecycle{}, true},
	}
	for _, tc := range tcs {
		t.Run(tc.in, func(t *testing.T) {
			got, err := proc.ParseLifecycle(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("ParseLifecycle(%q) = %+v, %v", tc.in, got, err)
			}
			if !tc.bad && got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestParseMix(t *testing.T) {
	m, err := proc.ParseMix("put=50,delete=20,batch=25,sync=5")
	if err != nil || m != (proc.Mix{Put: 50, Delete: 20, Batch: 25, Sync: 5}) || m.String() != "put=50,delete=20,batch=25,sync=5" {
		t.Fatalf("%+v, %v", m, err)
	}
	for _, bad := range []string{"sync=5", "put=x", "puts=3", "put=-1"} {
		if _, err := proc.ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

// TestProcessCrashTester_MalformedReplies: a target that answers reads with
// lines that are not replies is reported (its recovery hangs waiting for
// them, and the lines are named), never a crash of the tester.
func TestProcessCrashTester_MalformedReplies(t *testing.T) {
	cfg := killConfig(59)
	cfg.Iterations, cfg.Env = 1, []string{badTargetEnv + "=1"}
	cfg.Target = &proc.TargetWorkload{Name: "inmem", CheckTimeout: 2 * time.Second}
	res, err := proc.NewProcessCrashTester(os.Args[0], t.TempDir(), cfg).Run()
	if err != nil {
		t.Fatal(err)
	}
	r := res.Results[0]
	if r.RecoverySucceeded || !slices.Contains(r.Classes, crashtest.ClassHang) || !slices.Contains(r.Classes, crashtest.ClassBroken) {
		t.Fatalf("want a failed iteration with a hang: %s (classes %v)", r, r.Classes)
	}
	t.Logf("%s (classes %v)", r, r.Classes)
}
