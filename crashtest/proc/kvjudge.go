package proc

import (
	"fmt"
	"slices"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// checkResult is what the checker read from a recovered store.
type checkResult struct {
	openErr  string // "" if the store opened
	hung     string // the request that did not finish in time, if any
	values   map[string][]byte
	getErrs  map[string]string
	probe    string // "ok" or the error of a write after recovery
	closeErr string // "ok" or the error of Close
	bad      []error
	duration time.Duration
	// interrupted: the campaign stopped while the checker ran: no verdict.
	interrupted bool
}

func newCheckResult() *checkResult {
	return &checkResult{values: map[string][]byte{}, getErrs: map[string]string{}}
}

// kvIssue is one thing wrong with a recovered store, and its class.
type kvIssue struct {
	class crashtest.Class
	crashtest.StateMismatch
}

// kvVerdict is the judgement of one recovered store.
type kvVerdict struct {
	acked, kept, lost, inFlight int
	// violations broke a promise; unpromised would have, had the
	// configuration promised it (an unsafe one under a power loss, a
	// batch of one that does not promise atomic batches); notices are
	// findings of their own (a crash during creation).
	violations, unpromised, notices []kvIssue
	interrupted                     bool
}

// classes returns the classes of the verdict's violations and notices,
// each once.
func (v kvVerdict) classes() []crashtest.Class {
	var out []crashtest.Class
	for _, is := range append(append([]kvIssue(nil), v.violations...), v.notices...) {
		if !slices.Contains(out, is.class) {
			out = append(out, is.class)
		}
	}
	return out
}

func (v kvVerdict) mismatches() []crashtest.StateMismatch {
	var out []crashtest.StateMismatch
	for _, is := range v.violations {
		out = append(out, is.StateMismatch)
	}
	return out
}

// kvJudgement is one judgement under way: the store, the crash, and
// what each op must be.
type kvJudgement struct {
	m        *kvModel
	c        *checkResult
	promised bool    // the configuration promises to survive this crash
	clock    *uint64 // the barrier explorer's crash state: only acknowledgements up to it are promised
	v        kvVerdict
}

// promises reports whether the configuration promises to keep its
// acknowledged writes across crash.
func (m *kvModel) promises(crash crashtest.CrashType) bool {
	return m.w.Caps.PowerSafe || (crash != crashtest.PowerLoss && m.w.Caps.ProcessSafe)
}

// judge compares a recovered store with the model. With clock set (the
// barrier explorer), only writes acknowledged at or before that clock are
// promised. judge does not change the model; settle does.
func (m *kvModel) judge(c *checkResult, crash crashtest.CrashType, clock *uint64) kvVerdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := &kvJudgement{m: m, c: c, promised: m.promises(crash), clock: clock}
	switch {
	case c.interrupted:
		j.v.interrupted = true
	case c.openErr != "" || c.hung != "":
		j.unopened()
	default:
		j.keys()
		j.batches()
		j.probes()
		j.after()
	}
	return j.v
}

func (j *kvJudgement) report(must bool, class crashtest.Class, entity, exp, act string) {
	is := kvIssue{class: class, StateMismatch: crashtest.StateMismatch{Entity: entity, Expected: exp, Actual: act}}
	if must {
		j.v.violations = append(j.v.violations, is)
	} else {
		j.v.unpromised = append(j.v.unpromised, is)
	}
}

// unopened judges a store that did not open (or whose recovery hung).
func (j *kvJudgement) unopened() {
	if j.c.hung != "" {
		j.report(true, crashtest.ClassHang, "recovery", "to finish within the checker's time limit", j.c.hung)
		j.badReplies()
		return
	}
	if !j.m.established && !j.m.ackedBy(j.clock) {
		is := kvIssue{class: crashtest.ClassCreation, StateMismatch: crashtest.StateMismatch{Entity: "store",
			Expected: "to open after a crash during its first creation (nothing was acknowledged)", Actual: j.c.openErr}}
		if j.m.w.Caps.CreationSafe {
			j.v.violations = append(j.v.violations, is)
		} else {
			j.v.notices = append(j.v.notices, is)
		}
		return
	}
	j.report(j.promised, crashtest.ClassUnopenable, "store", "to open after the crash", j.c.openErr)
}

// required reports whether the promise covers op.
func (j *kvJudgement) required(op *kvOp) bool {
	if op.found {
		return true
	}
	return op.status == crashtest.Acked && (j.clock == nil || op.stamp <= *j.clock)
}

// keys judges every key against its history.
func (j *kvJudgement) keys() {
	for _, name := range sortedKeys(j.m.keys) {
		k := j.m.keys[name]
		need := k.base
		for i, w := range k.writes {
			if j.required(w.op) {
				need = max(need, i+1)
			}
		}
		j.count(k, need)
		j.key(k, need)
	}
}

// count books the acknowledged writes of k that the state had to hold, and
// those in flight.
func (j *kvJudgement) count(k *kvKey, need int) {
	for i, w := range k.writes[k.base:] {
		switch {
		case w.op.status == crashtest.Issued:
			j.v.inFlight++
		case w.op.status == crashtest.Acked && k.base+i+1 <= need && !w.op.found:
			j.v.acked++
		}
	}
}

// key judges one key: its state must be one of its history's, at or after
// need.
func (j *kvJudgement) key(k *kvKey, need int) {
	if msg, bad := j.c.getErrs[k.name]; bad {
		j.report(j.promised, crashtest.ClassBroken, "key "+k.name, "readable", msg)
		return
	}
	cands := k.candidates(j.c)
	got, present := j.c.values[k.name]
	if len(cands) == 0 {
		what := "a value no write wrote: "
		if j.m.lost[string(got)] {
			what = "a write an earlier recovery did not find, back again: "
		}
		j.report(j.promised, crashtest.ClassPhantom, "key "+k.name, k.describe(need), what+short(got))
		return
	}
	if cands[len(cands)-1] >= need {
		if need > 0 && need > k.base {
			j.v.kept += j.keptAt(k, need)
		}
		return
	}
	actual := "missing"
	if present {
		actual = "an older value: " + short(got)
	}
	class := crashtest.ClassAckedLoss
	if need > 0 && k.writes[need-1].value == nil && present {
		class, actual = crashtest.ClassPhantom, "deleted, yet back: "+short(got)
	}
	if class == crashtest.ClassAckedLoss {
		j.v.lost++
	}
	j.report(j.promised, class, "key "+k.name, k.describe(need), actual)
}

// keptAt counts 1 if the write k needed was acknowledged now (not found
// before): an acknowledged write verified.
func (j *kvJudgement) keptAt(k *kvKey, need int) int {
	if w := k.writes[need-1]; w.op.status == crashtest.Acked && !w.op.found {
		return 1
	}
	return 0
}

// describe says what state k must be in, at least.
func (k *kvKey) describe(need int) string {
	if need == 0 {
		return "absent (nothing promised was written)"
	}
	w := k.writes[need-1]
	what := "the value " + short(w.value)
	if w.value == nil {
		what = "absent (deleted)"
	}
	state := "acknowledged"
	if w.op.found {
		state = "found by an earlier recovery"
	}
	return fmt.Sprintf("%s, or a later state (%s %s)", what, w.op.kind, state)
}

// batches judges every batch: all there, or none of it.
func (j *kvJudgement) batches() {
	for _, op := range j.m.ops {
		if op.kind != opBatch || op.status == crashtest.Failed || len(op.writes) < 2 {
			continue
		}
		var in, out []string
		for _, w := range op.writes {
			p := w.position()
			cands := w.key.candidates(j.c)
			if len(cands) == 0 || p <= w.key.base {
				continue
			}
			// NB: only the batch's own value shows it applied: a later
			// state of the key does not (a write lost in a crash can be
			// followed by writes that were not), and an absent key may be
			// its delete or an earlier state.
			switch {
			case len(cands) == 1 && cands[0] == p:
				in = append(in, w.key.name)
			case cands[len(cands)-1] < p:
				out = append(out, w.key.name)
			}
		}
		if len(in) > 0 && len(out) > 0 {
			j.report(j.m.w.Caps.AtomicBatch && j.promised, crashtest.ClassTornBatch, fmt.Sprintf("batch of %d writes", len(op.writes)),
				"all of its writes or none", fmt.Sprintf("%d there (%s), %d not (%s)", len(in), in[0], len(out), out[0]))
		}
	}
}

// position is the state index the write leads to in its key's history (0:
// no longer in it).
func (w *kvWrite) position() int {
	for i, x := range w.key.writes {
		if x == w {
			return i + 1
		}
	}
	return 0
}

// probes judges the keys nobody wrote: they must be absent.
func (j *kvJudgement) probes() {
	for _, k := range j.m.probeKeys() {
		if got, ok := j.c.values[k]; ok {
			j.report(j.promised, crashtest.ClassPhantom, "key "+k, "absent (nobody wrote it)", "present: "+short(got))
		}
	}
}

// after judges what the store did after recovery: a write, a close, the
// replies themselves.
func (j *kvJudgement) after() {
	if j.c.probe != "ok" {
		j.report(j.promised, crashtest.ClassBroken, "probe", "a write and a read after recovery to succeed", j.c.probe)
	}
	if j.c.closeErr != "ok" && j.c.closeErr != "" {
		j.report(j.promised, crashtest.ClassBroken, "close", "a clean close after recovery", j.c.closeErr)
	}
	j.badReplies()
}

// badReplies reports the lines the target wrote that are no replies.
func (j *kvJudgement) badReplies() {
	for _, e := range j.c.bad {
		j.report(true, crashtest.ClassBroken, "reply", "well-formed replies", e.Error())
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]*kvKey) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// short quotes at most 40 bytes of b, for reports.
func short(b []byte) string { return fmt.Sprintf("%.40q (%d bytes)", b, len(b)) }
