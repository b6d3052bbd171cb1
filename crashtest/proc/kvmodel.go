package proc

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/in-mem/inmem/crashtest"
)

// kvModel is the judge of a Target: simpler than the ReferenceModel, since
// a Target has keys and values only, yet it judges every write a Target
// takes. The tester issues every write itself and gives each a value no
// other write has, so a recovered value names the write that produced it.
// Each key is written by one writer of the tester at a time, so a key's
// writes have one order: its history. After a crash, every key must be in
// a state of its history:
//
//   - at or after the latest write the promise covers (acknowledged, and
//     for a power loss only in a power-safe configuration; for the barrier
//     explorer, acknowledged before the crash state's clock), and at or
//     after whatever an earlier recovery found: otherwise an acknowledged
//     loss (an older value, or nothing), or, if that write was a delete, a
//     resurrection;
//   - a value no write wrote, a key nobody wrote, or a write lost in an
//     earlier crash coming back is a phantom;
//   - a batch is all there or not at all, if the configuration promises
//     atomic batches;
//   - the store opens, serves a write after recovery, and closes.
type kvModel struct {
	mu   sync.Mutex
	w    TargetWorkload
	seed uint64
	keys map[string]*kvKey
	ops  []*kvOp
	// byWriter lists each writer's keys, for overwrites and deletes.
	byWriter map[int][]string
	nextKey  map[int]int
	writes   int // writes issued: part of every value
	// established: the store has opened after a crash or a clean close
	// (it is past its creation).
	established bool
	// generation counts stores: a store that did not open is replaced.
	generation int
	// lost holds the values of writes an earlier recovery did not find:
	// gone, and never to come back.
	lost map[string]bool
}

// kvKey is one key's history: its writes in order; state i is the key after
// writes[:i] (state 0: absent). States below base are gone: an earlier
// recovery found the key at base.
type kvKey struct {
	name   string
	writes []*kvWrite
	base   int
}

// kvWrite is one write of an operation to one key: a put (value), or a
// delete (value nil).
type kvWrite struct {
	op    *kvOp
	key   *kvKey
	value []byte
}

// kvOp is one operation of the workload.
type kvOp struct {
	kind   string // put, delete, batch, sync
	writer int
	writes []*kvWrite
	status crashtest.OpStatus // Issued (in flight, or failed with an unknown outcome), Acked, Failed (lost)
	stamp  uint64             // the clock when its acknowledgement arrived
	found  bool               // an earlier recovery found it: it must stay
}

func newKVModel(w TargetWorkload, seed uint64) *kvModel {
	return &kvModel{w: w, seed: seed, keys: map[string]*kvKey{}, byWriter: map[int][]string{}, nextKey: map[int]int{}, lost: map[string]bool{}}
}

// kvWriteSpec is one write the workload wants: a key, and a put or not.
type kvWriteSpec struct {
	key    string
	delete bool
	size   int
}

// issue records an operation about to be sent and returns it with its
// values filled in.
func (m *kvModel) issue(kind string, writer int, specs []kvWriteSpec) *kvOp {
	m.mu.Lock()
	defer m.mu.Unlock()
	op := &kvOp{kind: kind, writer: writer, status: crashtest.Issued}
	for _, s := range specs {
		k := m.keys[s.key]
		if k == nil {
			k = &kvKey{name: s.key}
			m.keys[s.key] = k
			m.byWriter[writer] = append(m.byWriter[writer], s.key)
		}
		w := &kvWrite{op: op, key: k}
		if !s.delete {
			m.writes++
			w.value = kvValue(m.seed, s.key, m.writes, s.size)
		}
		k.writes = append(k.writes, w)
		op.writes = append(op.writes, w)
	}
	m.ops = append(m.ops, op)
	return op
}

// kvValue is the unique value of the n-th write, naming its key and the
// seed, padded to size bytes.
func kvValue(seed uint64, key string, n, size int) []byte {
	v := fmt.Appendf(nil, "%s#%d:s%d;", key, n, seed)
	if len(v) < size {
		v = append(v, bytes.Repeat([]byte{'.'}, size-len(v))...)
	}
	return v
}

// newKey returns a key writer w has not used.
func (m *kvModel) newKey(w int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextKey[w]++
	return fmt.Sprintf("g%d/w%02d/k%06d", m.generation, w, m.nextKey[w])
}

// writerKeys returns writer w's keys.
func (m *kvModel) writerKeys(w int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.byWriter[w])
}

// ack records the acknowledgement of op at clock at.
func (m *kvModel) ack(op *kvOp, at uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	op.status, op.stamp = crashtest.Acked, at
}

// acked returns the number of acknowledged writes still expected.
func (m *kvModel) acked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, op := range m.ops {
		if op.status == crashtest.Acked && op.kind != opSync {
			n++
		}
	}
	return n
}

// ackedBy reports whether any write was acknowledged by clock at (nil:
// ever): a store that does not open before that is still being created.
func (m *kvModel) ackedBy(at *uint64) bool {
	for _, op := range m.ops {
		if op.status == crashtest.Acked && op.kind != opSync && (at == nil || op.stamp <= *at) {
			return true
		}
	}
	return false
}

// probeKeys are keys nobody wrote: one past each writer's last.
func (m *kvModel) probeKeys() []string {
	var out []string
	for w := range m.nextKey {
		out = append(out, fmt.Sprintf("g%d/w%02d/k%06d", m.generation, w, m.nextKey[w]+1))
	}
	slices.Sort(out)
	return out
}

// readKeys returns every key the checker must read: the model's and the
// probes.
func (m *kvModel) readKeys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ks []string
	for k := range m.keys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return append(ks, m.probeKeys()...)
}

// reset starts over on a new store (the old one did not open).
func (m *kvModel) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range m.ops {
		if op.status != crashtest.Failed {
			op.status = crashtest.Failed
		}
	}
	m.keys, m.byWriter, m.nextKey = map[string]*kvKey{}, map[int][]string{}, map[int]int{}
	m.established = false
	m.generation++
}

// settle accepts a recovered store as the base of what comes next: every
// key stays at the state it was found in, and writes after it are gone.
func (m *kvModel) settle(c *checkResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.established = true
	for _, k := range m.keys {
		s := k.settled(c)
		for _, w := range k.writes[s:] {
			w.op.status = crashtest.Failed
			if w.value != nil {
				m.lost[string(w.value)] = true
			}
		}
		for _, w := range k.writes[:s] {
			if w.op.status != crashtest.Failed {
				w.op.status, w.op.found = crashtest.Acked, true
			}
		}
		k.writes, k.base = k.writes[:s], s
	}
}

// settled returns the state index a recovered store holds key k in: the
// latest state its reading allows.
func (k *kvKey) settled(c *checkResult) int {
	cands := k.candidates(c)
	if len(cands) == 0 {
		return k.base
	}
	return cands[len(cands)-1]
}

// candidates returns the states of k consistent with what the checker
// read, in order (none: a value no write wrote, or a read error).
func (k *kvKey) candidates(c *checkResult) []int {
	if _, bad := c.getErrs[k.name]; bad {
		return nil
	}
	v, present := c.values[k.name]
	var out []int
	if !present {
		out = append(out, 0)
	}
	for i, w := range k.writes {
		switch {
		case !present && w.value == nil:
			out = append(out, i+1)
		case present && w.value != nil && bytes.Equal(v, w.value):
			out = append(out, i+1)
		}
	}
	return out
}
