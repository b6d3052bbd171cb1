package crashtest

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/in-mem/inmem"
)

// ReferenceModel is the history of operations issued against a database
// and what became of each, and the judge of a recovered state. A recovered
// database passes only if:
//
//  1. it equals the model's state after some prefix of the committed history
//     (the prefix ending at the database's last version), compared in both
//     directions: every run, every KV version, every event, every cell, and
//     nothing the model does not have;
//  2. the prefix holds every operation whose durability the mode promised;
//  3. an operation in flight at the crash is entirely present or absent;
//  4. versions equal the acknowledged ones, events have no gaps, and (checked
//     by the harness) the next commit gets a version above every recovered
//     one.
//
// Every write operation's version is known: the scenario runner reads it
// from the transaction before committing (an intent), so even an operation
// in flight at the crash has one. Operations are therefore ordered by
// version, which is the commit order, whatever order they were issued in.
type ReferenceModel struct {
	ops       []*Op
	byVersion map[inmem.Version]*Op

	base        *dbState // the state verified after the last recovery
	baseVersion inmem.Version
	latest      *dbState // base plus every acknowledged operation

	syncedAcks inmem.Version // highest version acknowledged before the last completed sync
	lastCkpt   int           // ops index of the last completed checkpoint, -1 if none

	clock func() uint64 // stamps events for At; nil: no stamps
	syncs []syncStamp

	unseenCompactions bool // see AllowUnseenCompactions
}

type syncStamp struct {
	at    uint64
	acked inmem.Version
}

// SetClock makes the model stamp every event with clock(), so that At can
// rebuild the model as it was at any earlier clock value. The explorer uses
// the count of filesystem operations as the clock.
func (m *ReferenceModel) SetClock(clock func() uint64) { m.clock = clock }

// now reads the clock. It may be called from any goroutine.
func (m *ReferenceModel) now() uint64 {
	if m.clock == nil {
		return 0
	}
	return m.clock()
}

// NewReferenceModel returns an empty model: a new database.
func NewReferenceModel() *ReferenceModel {
	return &ReferenceModel{byVersion: map[inmem.Version]*Op{}, base: newDBState(), latest: newDBState(), lastCkpt: -1}
}

// Ops returns the history, in the order operations were issued.
func (m *ReferenceModel) Ops() []*Op { return m.ops }

// Begin records that op was issued and returns it with its index.
func (m *ReferenceModel) Begin(op Op) *Op {
	op.Index = len(m.ops)
	op.Status = Issued
	op.issuedAt = m.now()
	p := &op
	m.ops = append(m.ops, p)
	return p
}

// Intent records the version a write operation will commit as, if it
// commits. Called before the commit, so that an operation in flight at a
// crash still has its version.
func (m *ReferenceModel) Intent(op *Op, v inmem.Version) {
	m.intentAt(op, v, m.now())
}

// intentAt records an intent observed at clock value at.
func (m *ReferenceModel) intentAt(op *Op, v inmem.Version, at uint64) {
	if op.announced != v {
		op.intentAt = at
	}
	op.Version, op.announced = v, v
	m.byVersion[v] = op
}

// Ack records that op was acknowledged (with version v for a write).
func (m *ReferenceModel) Ack(op *Op, v inmem.Version, seqs []uint64) {
	if v != 0 {
		if op.Version != 0 && op.Version != v {
			delete(m.byVersion, op.Version)
		}
		m.Intent(op, v)
	}
	op.Status, op.Seqs = Acked, seqs
	op.doneAt = m.now()
	if op.Kind == OpWrite && v != 0 {
		m.latest.apply(op)
	}
	if op.Kind == OpCheckpoint {
		m.lastCkpt = op.Index
	}
}

// Fail records that op failed before committing anything.
func (m *ReferenceModel) Fail(op *Op, err error) {
	if op.Version != 0 && m.byVersion[op.Version] == op {
		delete(m.byVersion, op.Version)
	}
	op.Status, op.Version = Failed, 0
	op.doneAt = m.now()
	op.err = err
	if err != nil {
		op.Err = err.Error()
	}
}

// Synced records that a sync completed (Flush, Checkpoint, Close): every
// operation acknowledged before it survives even a power loss.
func (m *ReferenceModel) Synced() {
	m.syncedAcks = m.latest.last
	m.syncs = append(m.syncs, syncStamp{at: m.now(), acked: m.syncedAcks})
}

// SyncPoints returns the clock values (see SetClock) at which a sync the
// model knows of completed (Flush, Checkpoint, Close or Reopen returned):
// crash states right there show whether each kept its promise.
func (m *ReferenceModel) SyncPoints() []uint64 {
	pts := make([]uint64, len(m.syncs))
	for i, s := range m.syncs {
		pts[i] = s.at
	}
	return pts
}

// SyncedUpTo records that a completed sync made every version up to v
// durable, when the model learns it from outside (a child process's
// acknowledgements) rather than from Synced.
func (m *ReferenceModel) SyncedUpTo(v inmem.Version) {
	if v > m.syncedAcks {
		m.syncedAcks = v
		m.syncs = append(m.syncs, syncStamp{at: m.now(), acked: v})
	}
}

// Adopt makes db's current state the model's starting point: the history
// goes on from an existing database (a kill campaign given a database to
// continue). It must come before any operation.
func (m *ReferenceModel) Adopt(db *inmem.DB) error {
	if len(m.ops) > 0 {
		return fmt.Errorf("crashtest: Adopt on a model with a history")
	}
	s, err := captureDB(db)
	if err != nil {
		return err
	}
	m.base, m.baseVersion, m.latest, m.syncedAcks = s, s.last, s.clone(), s.last
	return nil
}

// Checkpoint records a checkpoint operation as issued; see Ack. It exists
// so the history shows where checkpoints were taken.
func (m *ReferenceModel) Checkpoint() *Op { return m.Begin(Op{Kind: OpCheckpoint}) }

// Latest returns the version the next commit follows: the last acknowledged
// version (or the recovered one).
func (m *ReferenceModel) Latest() inmem.Version { return m.latest.last }

// CellVersion returns a state cell's version in the acknowledged state (0
// if absent).
func (m *ReferenceModel) CellVersion(run, cell string) inmem.Version {
	if r := m.latest.runs[run]; r != nil {
		return r.cells[cell].version
	}
	return 0
}

// KeyExists reports whether a key is live in the acknowledged state.
func (m *ReferenceModel) KeyExists(run, key string) bool {
	r := m.latest.runs[run]
	return r != nil && r.kvLive(key)
}

// Promise says which versions a recovered database must hold.
type Promise struct {
	Durability inmem.Durability
	Crash      CrashType
	// Upto, if set, replaces what the mode and crash promise: exactly the
	// versions up to *Upto must be present. An explorer that knows which
	// syncs each crash state holds sets it.
	Upto *inmem.Version
}

// Required returns the highest version the promise guarantees survives:
// every acknowledged operation, except after a power loss in Buffered mode,
// where only those acknowledged before the last completed sync are promised,
// and in InMemory mode, where nothing is.
func (m *ReferenceModel) Required(p Promise) inmem.Version {
	switch {
	case p.Upto != nil:
		return *p.Upto
	case p.Durability == inmem.InMemory:
		return 0
	case p.Durability == inmem.Buffered && p.Crash.LosesUnsynced():
		return max(m.syncedAcks, m.baseVersion)
	}
	return m.latest.last
}

// maxKnown is the highest version any operation may have committed as.
func (m *ReferenceModel) maxKnown() inmem.Version {
	v := m.latest.last
	for ver := range m.byVersion {
		v = max(v, ver)
	}
	return v
}

// stateAt returns the model's state after every committed operation with a
// version at or below v, or the first version in that range no operation
// claims. Full compactions the runner placed trim where they ran. It also
// returns what the replay finds wrong with what was acknowledged: an append
// whose acknowledged sequence number is not the one it takes in version
// order.
func (m *ReferenceModel) stateAt(v inmem.Version) (*dbState, inmem.Version, []StateMismatch) {
	s := m.base.clone()
	trims := m.trimsFrom(m.baseVersion)
	trims = s.compactThrough(trims, m.baseVersion)
	var bad []StateMismatch
	for ver := m.baseVersion + 1; ver <= v; ver++ {
		op := m.byVersion[ver]
		if op == nil {
			return s, ver, bad
		}
		seqs := s.apply(op)
		if op.Status == Acked && op.Seqs != nil && !slices.Equal(seqs, op.Seqs) {
			bad = append(bad, StateMismatch{fmt.Sprintf("op#%d", op.Index),
				fmt.Sprintf("event sequence numbers %v (v%d in version order)", seqs, ver), fmt.Sprintf("acknowledged %v", op.Seqs)})
		}
		trims = s.compactThrough(trims, ver)
	}
	s.last = max(s.last, v)
	return s, 0, bad
}

// trimsFrom returns the versions after which the placed full compactions
// ran, from v on, in order.
func (m *ReferenceModel) trimsFrom(v inmem.Version) []inmem.Version {
	var at []inmem.Version
	for _, op := range m.ops {
		if op.placed && op.after >= v {
			at = append(at, op.after)
		}
	}
	slices.Sort(at)
	return at
}

// compactThrough applies the compactions of trims placed at or before v and
// returns the rest.
func (s *dbState) compactThrough(trims []inmem.Version, v inmem.Version) []inmem.Version {
	for len(trims) > 0 && trims[0] <= v {
		s.compact()
		trims = trims[1:]
	}
	return trims
}

// loose reports whether a full compaction may have trimmed histories where
// the model cannot say: one that failed, was in flight, or was recorded
// from outside the runner (with writers running alongside it).
func (m *ReferenceModel) loose() bool {
	if m.unseenCompactions {
		return true
	}
	for _, op := range m.ops {
		if op.Kind == OpCompact && op.Mode == inmem.CompactFull && !op.placed {
			return true
		}
	}
	return false
}

// AllowUnseenCompactions tells the model that full compactions may have
// run without its history holding them, as when a crash cuts off a child
// process's acknowledgements. A key's history may then have been trimmed
// anywhere down to the newest versions the strictest KeepLast its run ever
// had keeps. Otherwise only the full compactions the history holds trim:
// exactly where they ran if the runner ran them to completion, and as an
// unseen one would if not (one that failed, was cut short by a crash, or
// was recorded from outside the runner).
func (m *ReferenceModel) AllowUnseenCompactions() { m.unseenCompactions = true }

// compacted records that op, a full compaction, completed with nothing
// else running (the runner's history is sequential): it trimmed the state
// as it stood at the last acknowledged version.
func (m *ReferenceModel) compacted(op *Op) {
	if !m.latest.compactable() {
		return // a policy the model cannot apply: op stays loose
	}
	op.placed, op.after = true, m.latest.last
	m.latest.compact()
}

// Verdict is the model's judgement of a recovered database.
type Verdict struct {
	Recovered  inmem.Version // the database's last version
	Required   inmem.Version // the promise's lower bound
	LastAcked  inmem.Version // the highest acknowledged version, promised or not
	MaxKnown   inmem.Version // the highest version any operation could have
	AckedKept  int           // acknowledged write operations present
	AckedLost  int           // acknowledged write operations absent (a broken promise if required)
	InFlight   int           // operations in flight at the crash
	Mismatches []StateMismatch
}

// Compare judges db against the history under promise p and returns every
// mismatch (nil if the database passes).
func (m *ReferenceModel) Compare(db *inmem.DB, p Promise) []StateMismatch {
	return m.Judge(db, p).Mismatches
}

// Matches reports whether db passes Compare.
func (m *ReferenceModel) Matches(db *inmem.DB, p Promise) bool {
	return len(m.Compare(db, p)) == 0
}

// Judge compares db against the history under promise p.
func (m *ReferenceModel) Judge(db *inmem.DB, p Promise) Verdict {
	got, err := captureDB(db)
	if err != nil {
		return Verdict{Mismatches: []StateMismatch{{Entity: "database", Expected: "readable", Actual: err.Error()}}}
	}
	return m.judgeState(got, p, func(want *dbState) error { return captureKeys(db, got, want) })
}

func (m *ReferenceModel) judgeState(got *dbState, p Promise, more func(*dbState) error) Verdict {
	v := Verdict{Recovered: got.last, Required: m.Required(p), LastAcked: m.latest.last, MaxKnown: m.maxKnown()}
	add := func(entity, exp, act string) {
		v.Mismatches = append(v.Mismatches, StateMismatch{entity, exp, act})
	}
	m.countAcks(&v)
	if v.Recovered < v.Required {
		add("durability", fmt.Sprintf("every version up to v%d (%s, %s)", v.Required, p.Durability, p.Crash),
			fmt.Sprintf("recovered up to v%d: %d acknowledged operations lost", v.Recovered, v.AckedLost))
	}
	if v.Recovered < m.baseVersion {
		add("version", fmt.Sprintf("at least v%d (verified before)", m.baseVersion), fmt.Sprintf("v%d", v.Recovered))
		return v
	}
	if v.Recovered > v.MaxKnown {
		add("version", fmt.Sprintf("at most v%d (the last version any operation could have)", v.MaxKnown),
			fmt.Sprintf("v%d: versions no commit wrote", v.Recovered))
	}
	want, hole, bad := m.stateAt(min(v.Recovered, v.MaxKnown))
	v.Mismatches = append(v.Mismatches, bad...)
	if hole != 0 {
		add("version", fmt.Sprintf("an operation committed as v%d", hole), "no operation of the history has that version")
	}
	if more != nil {
		if err := more(want); err != nil {
			add("database", "readable", err.Error())
		}
	}
	v.Mismatches = append(v.Mismatches, diff(want, got, comparison{trimmed: m.loose()})...)
	return v
}

func (m *ReferenceModel) countAcks(v *Verdict) {
	for _, op := range m.ops {
		switch {
		case op.Kind != OpWrite || op.Version == 0 || op.Version <= m.baseVersion:
		case op.Status == Acked && op.Version <= v.Recovered:
			v.AckedKept++
		case op.Status == Acked:
			v.AckedLost++
		case op.Status == Issued:
			v.InFlight++
		}
	}
}

// Settle accepts the recovered state at version v as the new base: the
// operations committed above v did not survive (the judge has already said
// whether that was allowed) and are marked failed, so the history can go on
// from the recovered database.
func (m *ReferenceModel) Settle(v inmem.Version) {
	s, _, _ := m.stateAt(v)
	s.last = v
	for _, op := range m.ops {
		if op.placed && op.after > v {
			op.placed = false // it trimmed a history the crash lost
		}
		switch {
		case op.Status == Issued && op.Version != 0 && op.Version <= v:
			op.Status = Acked // it committed after all
		case op.Status != Failed && op.Version > v:
			op.Status, op.Err = Failed, "lost in the crash"
			delete(m.byVersion, op.Version)
		case op.Status == Issued:
			op.Status, op.Err = Failed, "in flight at the crash"
		}
	}
	m.base, m.baseVersion = s, v
	m.latest = s.clone()
	m.syncedAcks = v
}

// Tail returns the last n operations of the history, for failure reports.
func (m *ReferenceModel) Tail(n int) []*Op {
	return m.ops[max(0, len(m.ops)-n):]
}

// Versions returns the known versions in order (for reports and tests).
func (m *ReferenceModel) Versions() []inmem.Version {
	var vs []inmem.Version
	for v := range m.byVersion {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs
}

// eventCount returns the number of events of a run in the acknowledged
// state: the next sequence number.
func (m *ReferenceModel) eventCount(run string) uint64 {
	if r := m.latest.runs[run]; r != nil {
		return uint64(len(r.events))
	}
	return 0
}

// At returns the model as it stood at clock value t (see SetClock): only the
// operations issued by then, with the versions and outcomes known by then.
// It works on a model whose history started from an empty database.
func (m *ReferenceModel) At(t uint64) *ReferenceModel {
	v := NewReferenceModel()
	v.unseenCompactions = m.unseenCompactions
	for _, op := range m.ops {
		if op.issuedAt > t {
			break
		}
		c := *op
		if c.doneAt > t {
			c.Status, c.Seqs, c.Err, c.placed = Issued, nil, "", false
		}
		if c.Status != Failed {
			c.Version = 0
			if op.intentAt != 0 && op.intentAt <= t {
				c.Version = op.announced
			}
		}
		v.ops = append(v.ops, &c)
	}
	// Apply in version order, as commits happened.
	acked := make([]*Op, 0, len(v.ops))
	for _, op := range v.ops {
		if op.Version != 0 {
			v.byVersion[op.Version] = op
			if op.Status == Acked && op.Kind == OpWrite {
				acked = append(acked, op)
			}
		}
		if op.Kind == OpCheckpoint && op.Status == Acked {
			v.lastCkpt = op.Index
		}
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].Version < acked[j].Version })
	for _, op := range acked {
		v.latest.apply(op)
	}
	for _, s := range m.syncs {
		if s.at <= t {
			v.syncedAcks = s.acked
		}
	}
	return v
}

// clone returns a copy of m that later changes to m (Settle, new
// operations) do not touch.
func (m *ReferenceModel) clone() *ReferenceModel {
	c := *m
	c.ops = make([]*Op, len(m.ops))
	copies := make(map[*Op]*Op, len(m.ops))
	for i, op := range m.ops {
		o := *op
		c.ops[i], copies[op] = &o, &o
	}
	c.byVersion = make(map[inmem.Version]*Op, len(m.byVersion))
	for v, op := range m.byVersion {
		c.byVersion[v] = copies[op]
	}
	c.base, c.latest, c.syncs = m.base.clone(), m.latest.clone(), slices.Clone(m.syncs)
	return &c
}

// Predict works out what committing writes as one operation right after the
// acknowledged history must do. It returns the writes with every CASCurrent
// resolved to the version the model holds, and the error the commit must
// fail with, or nil if it must commit: errors.Is ErrNotFound for a delete of
// a missing key, ErrRunExists for a CreateRun of an existing run, or the
// *inmem.VersionMismatchError of a CAS on another version. The runner checks
// every outcome so; writers committing concurrently on keys and cells of
// their own can too.
func (m *ReferenceModel) Predict(writes []Write) ([]Write, error) {
	ws, p := m.predict(writes)
	if p.mismatch != nil {
		return ws, p.mismatch
	}
	return ws, p.failure
}

// prediction is what the model expects of a write operation.
type prediction struct {
	failure  error                       // ErrNotFound, ErrRunExists or ErrVersionMismatch; nil: success
	mismatch *inmem.VersionMismatchError // the details of a failing CAS
	seqs     []uint64
}

// sameFailure reports whether err is the failure p predicts.
func (p prediction) sameFailure(err error) bool {
	var vm *inmem.VersionMismatchError
	if p.mismatch != nil {
		return errors.As(err, &vm) && *vm == *p.mismatch
	}
	return p.failure != nil && errors.Is(err, p.failure)
}

// predictor follows an operation's writes, in order, through the
// acknowledged state.
type predictor struct {
	m        *ReferenceModel
	next     inmem.Version // the version the operation commits as
	cells    map[[2]string]inmem.Version
	live     map[[2]string]bool
	runs     map[string]bool
	appended map[string]uint64
	prediction
}

// predict resolves ExpectCurrent CAS writes and works out the outcome the
// model expects, applying the operation's writes in order.
func (m *ReferenceModel) predict(writes []Write) ([]Write, prediction) {
	ws := slices.Clone(writes)
	p := &predictor{m: m, next: m.Latest() + 1, cells: map[[2]string]inmem.Version{},
		live: map[[2]string]bool{}, runs: map[string]bool{}, appended: map[string]uint64{}}
	for i := range ws {
		if ws[i].Value == nil && ws[i].Kind != WriteKVDelete && ws[i].Kind != WriteCreateRun {
			ws[i].Value = []byte{}
		}
		p.write(&ws[i])
	}
	return ws, p.prediction
}

func (p *predictor) fail(err error) {
	if p.failure == nil {
		p.failure = err
	}
}

func (p *predictor) write(w *Write) {
	k := [2]string{w.Run, w.Key}
	if w.Kind == WriteCreateRun && (p.runs[w.Run] || p.m.latest.runs[w.Run] != nil) {
		p.fail(inmem.ErrRunExists)
	}
	p.runs[w.Run] = true
	switch w.Kind {
	case WriteKVPut:
		p.live[k] = true
	case WriteKVDelete:
		exists, ok := p.live[k]
		if !ok {
			exists = p.m.KeyExists(w.Run, w.Key)
		}
		if !exists {
			p.fail(inmem.ErrNotFound)
		}
		p.live[k] = false
	case WriteEventAppend:
		p.seqs = append(p.seqs, p.m.eventCount(w.Run)+p.appended[w.Run])
		p.appended[w.Run]++
	case WriteStateCAS:
		p.cas(w, k)
	case WriteStateSet:
		p.cells[k] = p.next
	}
}

func (p *predictor) cas(w *Write, k [2]string) {
	cur, ok := p.cells[k]
	if !ok {
		cur = p.m.CellVersion(w.Run, w.Key)
	}
	if w.ExpectCurrent {
		w.Expected = cur
	}
	if w.Expected != cur && p.failure == nil {
		p.failure = inmem.ErrVersionMismatch
		p.mismatch = &inmem.VersionMismatchError{Cell: w.Key, Expected: w.Expected, Actual: cur}
	}
	p.cells[k] = p.next
}
