package proc

import (
	"slices"
	"strings"
	"testing"

	"github.com/in-mem/inmem/crashtest"
)

// kvStore is what a checker could read: key → value (nil: absent).
type kvStore map[string][]byte

func (s kvStore) result() *checkResult {
	c := newCheckResult()
	for k, v := range s {
		if v != nil {
			c.values[k] = v
		}
	}
	c.probe, c.closeErr = "ok", "ok"
	return c
}

// history builds a model with a put of a, a put of b, an acknowledged
// delete of a, and an acknowledged batch writing c and d (and an
// overwrite of b), and returns the ops.
func history(caps crashtest.Caps) (*kvModel, []*kvOp) {
	m := newKVModel(TargetWorkload{Name: "t", Caps: caps}, 7)
	put := func(key string) *kvOp { return m.issue(opPut, 1, []kvWriteSpec{{key: key, size: 8}}) }
	ops := []*kvOp{put("a"), put("b"), m.issue(opDelete, 1, []kvWriteSpec{{key: "a", delete: true}}),
		m.issue(opBatch, 1, []kvWriteSpec{{key: "c", size: 8}, {key: "d", size: 8}, {key: "b", size: 8}})}
	for i, op := range ops {
		m.ack(op, uint64(10*(i+1)))
	}
	return m, ops
}

func val(op *kvOp, i int) []byte { return op.writes[i].value }

// TestKVModel_Classes: each way a recovered store can be wrong lands in
// its own class; what is right passes.
func TestKVModel_Classes(t *testing.T) {
	safe := crashtest.Caps{PowerSafe: true, ProcessSafe: true, AtomicBatch: true}
	m, ops := history(safe)
	m.nextKey[1] = 0 // writer 1's first new key is a probe: nobody wrote it
	good := kvStore{"b": val(ops[3], 2), "c": val(ops[3], 0), "d": val(ops[3], 1)}
	tcs := []struct {
		name  string
		store func() kvStore
		want  []crashtest.Class
	}{
		{"intact", func() kvStore { return good }, nil},
		{"lost put", func() kvStore { s := clone(good); delete(s, "c"); delete(s, "d"); return s }, []crashtest.Class{crashtest.ClassAckedLoss, crashtest.ClassTornBatch}},
		{"resurrected", func() kvStore { s := clone(good); s["a"] = val(ops[0], 0); return s }, []crashtest.Class{crashtest.ClassPhantom}},
		{"never written", func() kvStore { s := clone(good); s["c"] = []byte("garbage"); return s }, []crashtest.Class{crashtest.ClassPhantom}},
		{"probe key", func() kvStore { s := clone(good); s["g0/w01/k000001"] = []byte("x"); return s }, []crashtest.Class{crashtest.ClassPhantom}},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			v := m.judge(tc.store().result(), crashtest.ProcessKill, nil)
			if got := v.classes(); !slices.Equal(got, tc.want) {
				t.Fatalf("classes %v, want %v: %v", got, tc.want, v.violations)
			}
		})
	}
}

func clone(s kvStore) kvStore {
	out := kvStore{}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// TestKVModel_TornBatch: at a clock before the batch's acknowledgement,
// all or none of it may be there; part of it is torn, a violation only
// where batches are promised atomic.
func TestKVModel_TornBatch(t *testing.T) {
	for _, atomic := range []bool{true, false} {
		m, ops := history(crashtest.Caps{PowerSafe: true, AtomicBatch: atomic})
		clock := uint64(35) // after the delete, before the batch
		torn := kvStore{"b": val(ops[1], 0), "c": val(ops[3], 0)}.result()
		v := m.judge(torn, crashtest.PowerLoss, &clock)
		switch {
		case atomic && !slices.Equal(v.classes(), []crashtest.Class{crashtest.ClassTornBatch}):
			t.Fatalf("atomic batches: classes %v", v.classes())
		case !atomic && (len(v.violations) != 0 || len(v.unpromised) != 1):
			t.Fatalf("batches not atomic: violations %v, unpromised %v", v.violations, v.unpromised)
		}
		whole := kvStore{"b": val(ops[1], 0)}.result()
		if v := m.judge(whole, crashtest.PowerLoss, &clock); len(v.violations)+len(v.unpromised) != 0 {
			t.Fatalf("none of the batch, before its acknowledgement: %v", v.violations)
		}
	}
}

// TestKVModel_Unopenable tells a crash during creation (nothing
// acknowledged: a notice, unless the target is creation safe) from a store
// lost after acknowledged writes, and a hang from both.
func TestKVModel_Unopenable(t *testing.T) {
	m, _ := history(crashtest.Caps{PowerSafe: true})
	dead := &checkResult{openErr: "corrupt", values: map[string][]byte{}, getErrs: map[string]string{}}
	early := uint64(5)
	if v := m.judge(dead, crashtest.PowerLoss, &early); len(v.violations) != 0 || !slices.Equal(v.classes(), []crashtest.Class{crashtest.ClassCreation}) {
		t.Fatalf("during creation: %v / %v", v.violations, v.notices)
	}
	if v := m.judge(dead, crashtest.PowerLoss, nil); !slices.Equal(v.classes(), []crashtest.Class{crashtest.ClassUnopenable}) {
		t.Fatalf("after acknowledged writes: %v", v.classes())
	}
	m.w.Caps.CreationSafe = true
	if v := m.judge(dead, crashtest.PowerLoss, &early); len(v.violations) != 1 {
		t.Fatalf("a creation-safe target: %v", v.violations)
	}
	hung := &checkResult{hung: "open did not finish within 1s", values: map[string][]byte{}, getErrs: map[string]string{}}
	if v := m.judge(hung, crashtest.PowerLoss, nil); !slices.Equal(v.classes(), []crashtest.Class{crashtest.ClassHang}) {
		t.Fatalf("a hung recovery: %v", v.classes())
	}
	if v := m.judge(&checkResult{interrupted: true}, crashtest.PowerLoss, nil); !v.interrupted || len(v.violations) != 0 {
		t.Fatalf("an interrupted check: %+v", v)
	}
}

// TestKVModel_UnsafePowerLoss: a process-safe configuration's losses under
// a power loss are reported, not violations; under a kill they are. One
// that is not even process safe is judged under neither.
func TestKVModel_UnsafePowerLoss(t *testing.T) {
	if m, _ := history(crashtest.Caps{AtomicBatch: true}); len(m.judge(kvStore{}.result(), crashtest.ProcessKill, nil).violations) != 0 {
		t.Fatal("a configuration that promises nothing was judged under a kill")
	}
	m, _ := history(crashtest.Caps{ProcessSafe: true, AtomicBatch: true})
	empty := kvStore{}.result()
	if v := m.judge(empty, crashtest.PowerLoss, nil); len(v.violations) != 0 || len(v.unpromised) == 0 {
		t.Fatalf("power loss: violations %v, unpromised %v", v.violations, v.unpromised)
	}
	if v := m.judge(empty, crashtest.ProcessKill, nil); len(v.violations) == 0 {
		t.Fatal("a kill lost acknowledged writes unnoticed")
	}
}

// TestKVModel_SettleThenResurrect: a write the first recovery did not find
// is gone; finding it after the next crash is a phantom.
func TestKVModel_SettleThenResurrect(t *testing.T) {
	m := newKVModel(TargetWorkload{Name: "t", Caps: crashtest.Caps{PowerSafe: true, ProcessSafe: true}}, 7)
	op := m.issue(opPut, 1, []kvWriteSpec{{key: "x", size: 8}}) // in flight
	m.settle(kvStore{}.result())
	v := m.judge(kvStore{"x": val(op, 0)}.result(), crashtest.ProcessKill, nil)
	if !slices.Equal(v.classes(), []crashtest.Class{crashtest.ClassPhantom}) || !strings.Contains(v.violations[0].Actual, "earlier recovery did not find") {
		t.Fatalf("a lost in-flight write came back: classes %v, %v", v.classes(), v.violations)
	}
}
