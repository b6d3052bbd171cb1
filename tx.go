package inmem

import (
	"bytes"
	"fmt"

	"github.com/in-mem/inmem/internal/state"
	"github.com/in-mem/inmem/internal/writeset"
)

// MaxKeySize bounds keys, cell names and run names, in bytes. Run and cell
// names may not be empty; a KV key may.
const MaxKeySize = 64 << 10

// Tx is a transaction: the writes made through it commit together as one
// WAL record, all or nothing, with one version. Reads through a Tx see the
// latest committed state plus the Tx's own writes. A Tx is valid only inside
// the function given to Update or Commit; it is not safe for concurrent use.
type Tx struct {
	db      *DB
	version uint64
	muts    []writeset.Mutation
	mut0    [1]writeset.Mutation // muts' first backing array: most Txs write once
	done    bool
	size    int // encoded size of muts' writes, count excluded (see reserve)

	runs   map[string][16]byte // runs created by this Tx
	keys   map[txKey]int       // index in muts of each key's write; see find
	events map[[16]byte]uint64 // events appended per run
}

// txKey names what a Tx writes at most once: a KV key or a state cell.
type txKey struct {
	cell bool
	run  [16]byte
	key  string
}

// keyOf returns the txKey m writes, if it writes one.
func keyOf(m *writeset.Mutation) (txKey, bool) {
	switch m.Kind {
	case writeset.KVPut, writeset.KVDelete:
		return txKey{false, m.Run, m.Key}, true
	case writeset.StateSet:
		return txKey{true, m.Run, m.Key}, true
	}
	return txKey{}, false
}

// smallTx is how many writes a Tx searches one by one for an earlier write
// of a key before it builds the keys map: a map per single-write commit
// would cost more than the rest of the commit.
const smallTx = 8

// find returns the index in muts of this Tx's write of k, if any.
func (tx *Tx) find(k txKey) (int, bool) {
	if tx.keys != nil {
		i, ok := tx.keys[k]
		return i, ok
	}
	for i := range tx.muts {
		if mk, ok := keyOf(&tx.muts[i]); ok && mk == k {
			return i, true
		}
	}
	return 0, false
}

// Update runs fn in a transaction and commits its writes as one record:
// after any crash either all of them are present or none. If fn returns an
// error, nothing is written and Update returns that error. Transactions run
// one at a time; keep fn short.
func (db *DB) Update(fn func(*Tx) error) error {
	_, err := db.Commit(fn)
	return err
}

// Commit is Update that also returns the commit's version (0 if fn wrote
// nothing).
func (db *DB) Commit(fn func(*Tx) error) (Version, error) {
	db.commitMu.Lock()
	if err := db.writable(); err != nil {
		db.commitMu.Unlock()
		return 0, err
	}
	tx := &Tx{db: db, version: db.last + 1}
	tx.muts = tx.mut0[:0]
	db.arena = db.arena[:0] // the last commit's writes are applied: Apply copied them
	if cap(db.arena) > maxArena {
		db.arena = nil
	}
	err := db.runTx(tx, fn)
	if err != nil || len(tx.muts) == 0 {
		db.commitMu.Unlock()
		return 0, err
	}
	return db.commitLocked(tx)
}

// runTx calls fn with commitMu held. NB: if fn panics, nothing was applied:
// commitMu is released as the panic goes on, or every later commit would
// block forever once a caller recovers it.
func (db *DB) runTx(tx *Tx, fn func(*Tx) error) error {
	returned := false
	defer func() {
		tx.done = true
		if !returned {
			db.commitMu.Unlock()
		}
	}()
	err := fn(tx)
	returned = true
	return err
}

// commitLocked assigns the version, applies the writes (invisible until
// published), queues the record and, after releasing commitMu, waits until
// the durability mode allows the acknowledgement.
func (db *DB) commitLocked(tx *Tx) (Version, error) {
	v := tx.version
	var payload []byte
	if db.log != nil {
		db.encBuf = writeset.Append(db.encBuf[:0], tx.muts)
		var err error
		// The log copies the payload on Append: encode into a reused buffer.
		if payload, err = db.opts.Codec.Encode(db.payBuf[:0], db.encBuf); err != nil {
			db.commitMu.Unlock()
			return 0, fmt.Errorf("inmem: encode commit: %w", err)
		}
		db.payBuf = payload
		if size := len(payload) + recordOverhead; size > db.opts.MaxRecordSize {
			db.commitMu.Unlock()
			return 0, fmt.Errorf("%w: %d bytes, MaxRecordSize is %d", ErrTooLarge, size, db.opts.MaxRecordSize)
		}
	}
	ts := db.nowMicros()
	if err := db.store.Apply(v, ts, tx.muts); err != nil {
		db.commitMu.Unlock()
		return 0, fmt.Errorf("inmem: internal error: validated commit does not apply: %w", err)
	}
	db.last = v
	if db.log == nil {
		db.publish(v)
		db.commitMu.Unlock()
		return Version(v), nil
	}
	if err := db.log.Append(v, ts, payload); err != nil {
		db.commitMu.Unlock()
		return 0, db.fail(err)
	}
	db.commitMu.Unlock()
	if err := db.log.Wait(v); err != nil {
		return 0, db.fail(err)
	}
	return Version(v), nil
}

// Version returns the version this transaction will commit as.
func (tx *Tx) Version() Version { return Version(tx.version) }

func (tx *Tx) usable() error {
	if tx.done {
		return ErrTxDone
	}
	return nil
}

func checkName(what, s string) error {
	if len(s) > MaxKeySize {
		return invalidf("%s of %d bytes is above %d", what, len(s), MaxKeySize)
	}
	return nil
}

// run returns the id of a run that exists (at the latest version) or was
// created by this Tx.
func (tx *Tx) run(id RunID) error {
	if _, ok := tx.db.store.Run(id, state.Latest); ok {
		return nil
	}
	for _, rid := range tx.runs {
		if rid == id {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrRunNotFound, id)
}

func (tx *Tx) add(m writeset.Mutation) {
	tx.muts = append(tx.muts, m)
}

// CreateRun creates a run. It fails with ErrRunExists if the name is taken.
func (tx *Tx) CreateRun(name string) (RunID, error) {
	if err := tx.usable(); err != nil {
		return RunID{}, err
	}
	if name == "" {
		return RunID{}, invalidf("empty run name")
	}
	if err := checkName("run name", name); err != nil {
		return RunID{}, err
	}
	if _, ok := tx.lookupRun(name); ok {
		return RunID{}, fmt.Errorf("%w: %q", ErrRunExists, name)
	}
	if err := tx.reserve(writeset.MutationSize(writeset.CreateRun, len(name), 0, 0), 0, false); err != nil {
		return RunID{}, err
	}
	id, err := newUUID()
	if err != nil {
		return RunID{}, err
	}
	if tx.runs == nil {
		tx.runs = map[string][16]byte{}
	}
	tx.runs[name] = id
	tx.add(writeset.Mutation{Kind: writeset.CreateRun, Run: id, Key: name})
	return RunID(id), nil
}

func (tx *Tx) lookupRun(name string) (RunID, bool) {
	if id, ok := tx.runs[name]; ok {
		return RunID(id), true
	}
	if r, ok := tx.db.store.RunByName(name, state.Latest); ok {
		return RunID(r.ID), true
	}
	return RunID{}, false
}

// GetOrCreateRun returns the run named name, creating it if needed.
func (tx *Tx) GetOrCreateRun(name string) (RunID, error) {
	if err := tx.usable(); err != nil {
		return RunID{}, err
	}
	if id, ok := tx.lookupRun(name); ok {
		return id, nil
	}
	return tx.CreateRun(name)
}

// ResolveRun returns the id of the run named name.
func (tx *Tx) ResolveRun(name string) (RunID, error) {
	if err := tx.usable(); err != nil {
		return RunID{}, err
	}
	if id, ok := tx.lookupRun(name); ok {
		return id, nil
	}
	return RunID{}, fmt.Errorf("%w: %q", ErrRunNotFound, name)
}

// KVPut sets key to value. value is copied, after the size check: a value
// too large for one commit fails with ErrTooLarge at once, whatever its
// size, without being copied.
func (tx *Tx) KVPut(run RunID, key string, value []byte) error {
	if err := tx.kvCheck(run, key); err != nil {
		return err
	}
	return tx.put(writeset.KVPut, run, key, value)
}

// put records a KV put or a cell write, replacing this Tx's earlier write of
// the same key, once reserve accepts its size.
func (tx *Tx) put(kind writeset.Kind, run RunID, key string, value []byte) error {
	k := txKey{kind == writeset.StateSet, run, key}
	i, replaces := tx.find(k)
	if err := tx.reserve(writeset.MutationSize(kind, len(key), len(value), 0), i, replaces); err != nil {
		return err
	}
	tx.write(writeset.Mutation{Kind: kind, Run: run, Key: key, Value: tx.own(value)})
	return nil
}

// reserve counts a write of size bytes (encoded), which replaces this Tx's
// write at index i if replaces is set, and refuses it with ErrTooLarge if
// the commit's record would then exceed MaxRecordSize. It runs before the
// write's bytes are copied or encoded, and needs only their lengths. The
// codec may add a few bytes more; the record is checked again once encoded.
func (tx *Tx) reserve(size, i int, replaces bool) error {
	next, count := tx.size+size, len(tx.muts)+1
	if replaces {
		m := &tx.muts[i]
		next -= writeset.MutationSize(m.Kind, len(m.Key), len(m.Value), m.Seq)
		count--
	}
	record := recordOverhead + writeset.CountSize(count) + next
	if limit := tx.db.opts.MaxRecordSize; record > limit {
		return fmt.Errorf("%w: the commit would need a record of %d bytes, MaxRecordSize is %d", ErrTooLarge, record, limit)
	}
	tx.size = next
	return nil
}

// own returns a copy of b, never nil (a nil value marks no value), for
// this Tx to keep until its commit is applied. The copies of all Txs share
// one buffer, the arena, reused commit after commit (Commit holds commitMu
// from the Tx's start until Apply has copied what the state keeps): a
// commit allocates nothing for its values on the way to Apply.
func (tx *Tx) own(b []byte) []byte {
	db := tx.db
	if len(b) == 0 {
		return []byte{}
	}
	start := len(db.arena)
	db.arena = append(db.arena, b...)
	return db.arena[start:len(db.arena):len(db.arena)]
}

// maxArena is the largest arena kept for the next commit: a Tx that wrote
// more leaves its arena to the garbage collector.
const maxArena = 1 << 20

func (tx *Tx) kvCheck(run RunID, key string) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if err := checkName("key", key); err != nil {
		return err
	}
	return tx.run(run)
}

// cellCheck is kvCheck for a state cell, whose name, like a run's, may not
// be empty. A KV key may.
func (tx *Tx) cellCheck(run RunID, cell string) error {
	if cell == "" {
		return invalidf("empty cell name")
	}
	return tx.kvCheck(run, cell)
}

// write records m, a put, delete or cell write, replacing this Tx's earlier
// write of the same key. NB: a commit writes a key at most once, its last
// write winning: two entries of one key with the same version break history
// reads and make the snapshot refuse to load.
func (tx *Tx) write(m writeset.Mutation) {
	k, _ := keyOf(&m)
	if i, ok := tx.find(k); ok {
		tx.muts[i] = m
		return
	}
	tx.add(m)
	if tx.keys != nil {
		tx.keys[k] = len(tx.muts) - 1
	} else if len(tx.muts) > smallTx {
		tx.keys = make(map[txKey]int, 2*len(tx.muts))
		for i := range tx.muts {
			if mk, ok := keyOf(&tx.muts[i]); ok {
				tx.keys[mk] = i
			}
		}
	}
}

// KVDelete deletes key. It fails with ErrNotFound, and writes nothing, if
// the key does not exist.
func (tx *Tx) KVDelete(run RunID, key string) error {
	if err := tx.kvCheck(run, key); err != nil {
		return err
	}
	if _, err := tx.KVGet(run, key); err != nil {
		return err
	}
	i, replaces := tx.find(txKey{false, run, key})
	if err := tx.reserve(writeset.MutationSize(writeset.KVDelete, len(key), 0, 0), i, replaces); err != nil {
		return err
	}
	tx.write(writeset.Mutation{Kind: writeset.KVDelete, Run: run, Key: key})
	return nil
}

// KVGet returns the latest value of key, this Tx's writes included. A value
// written by this Tx has the Tx's version.
func (tx *Tx) KVGet(run RunID, key string) (Versioned, error) {
	if err := tx.kvCheck(run, key); err != nil {
		return Versioned{}, err
	}
	if i, ok := tx.find(txKey{false, run, key}); ok {
		m := tx.muts[i]
		if m.Kind == writeset.KVDelete {
			return Versioned{}, fmt.Errorf("%w: key %q", ErrNotFound, key)
		}
		return Versioned{Value: bytes.Clone(m.Value), Version: Version(tx.version)}, nil
	}
	r, _ := tx.db.store.Run(run, state.Latest)
	if r == nil {
		return Versioned{}, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	e, _, ok := r.KV(key, state.Latest)
	if !ok || e.Deleted {
		return Versioned{}, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	return versioned(e), nil
}

// EventAppend appends payload to the run's event log and returns its
// sequence number. payload is copied.
func (tx *Tx) EventAppend(run RunID, payload []byte) (uint64, error) {
	if err := tx.usable(); err != nil {
		return 0, err
	}
	if err := tx.run(run); err != nil {
		return 0, err
	}
	var seq uint64
	if r, ok := tx.db.store.Run(run, state.Latest); ok {
		seq = r.EventCount(state.Latest)
	}
	if tx.events == nil {
		tx.events = map[[16]byte]uint64{}
	}
	seq += tx.events[run]
	if err := tx.reserve(writeset.MutationSize(writeset.EventAppend, 0, len(payload), seq), 0, false); err != nil {
		return 0, err
	}
	tx.events[run]++
	tx.add(writeset.Mutation{Kind: writeset.EventAppend, Run: run, Value: tx.own(payload), Seq: seq})
	return seq, nil
}

// StateGet returns a state cell's latest value, this Tx's writes included.
func (tx *Tx) StateGet(run RunID, cell string) (Versioned, error) {
	if err := tx.cellCheck(run, cell); err != nil {
		return Versioned{}, err
	}
	if i, ok := tx.find(txKey{true, run, cell}); ok {
		return Versioned{Value: bytes.Clone(tx.muts[i].Value), Version: Version(tx.version)}, nil
	}
	r, _ := tx.db.store.Run(run, state.Latest)
	if r == nil {
		return Versioned{}, fmt.Errorf("%w: cell %q", ErrNotFound, cell)
	}
	e, ok := r.Cell(cell, state.Latest)
	if !ok {
		return Versioned{}, fmt.Errorf("%w: cell %q", ErrNotFound, cell)
	}
	return versioned(e), nil
}

// StateSet sets a state cell. value is copied after the size check, as in
// KVPut.
func (tx *Tx) StateSet(run RunID, cell string, value []byte) error {
	if err := tx.cellCheck(run, cell); err != nil {
		return err
	}
	return tx.put(writeset.StateSet, run, cell, value)
}

// StateCAS sets a state cell only if its current version is expected (0:
// only if the cell does not exist). Otherwise it returns a
// *VersionMismatchError and writes nothing.
func (tx *Tx) StateCAS(run RunID, cell string, expected Version, value []byte) error {
	cur, err := tx.StateGet(run, cell)
	switch {
	case err == nil:
	case isNotFound(err):
		cur = Versioned{}
	default:
		return err
	}
	if cur.Version != expected {
		return &VersionMismatchError{Cell: cell, Expected: expected, Actual: cur.Version}
	}
	return tx.StateSet(run, cell, value)
}

// SetRetentionPolicy stores the run's retention policy; CompactFull applies
// it. The policy is versioned data like any other write.
func (tx *Tx) SetRetentionPolicy(run RunID, p RetentionPolicy) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if err := p.validate(); err != nil {
		return err
	}
	if err := tx.run(run); err != nil {
		return err
	}
	enc := state.EncodePolicy(p.p)
	if err := tx.reserve(writeset.MutationSize(writeset.SetRetention, 0, len(enc), 0), 0, false); err != nil {
		return err
	}
	tx.add(writeset.Mutation{Kind: writeset.SetRetention, Run: run, Value: enc})
	return nil
}

func versioned(e state.Entry) Versioned {
	return Versioned{Value: bytes.Clone(e.Value), Version: Version(e.Version), Timestamp: microsTime(e.TS)}
}
