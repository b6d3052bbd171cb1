package state

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unsafe"
)

// Snapshot stream tags. Never renumber.
const (
	tagRun       = 'R' // id, name, version, ts; the K, E and C that follow belong to it
	tagKV        = 'K' // key, trim mark, versions
	tagEvent     = 'E' // seq, version, ts, payload
	tagCell      = 'C' // name, version, ts, value
	tagRetention = 'P' // run id, versions
	tagEnd       = 'Z' // counts of everything above
)

// SnapshotStats counts what a snapshot holds.
type SnapshotStats struct {
	Runs, Keys, Versions, Events, Cells, Policies uint64
	Bytes                                         uint64 // logical bytes: keys, values, payloads
}

type encoder struct {
	w     *bufio.Writer
	buf   []byte
	stats SnapshotStats
}

func (e *encoder) uvarint(x uint64) { e.buf = binary.AppendUvarint(e.buf, x) }
func (e *encoder) varint(x int64)   { e.buf = binary.AppendVarint(e.buf, x) }
func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
	e.stats.Bytes += uint64(len(b))
}
func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
	e.stats.Bytes += uint64(len(s))
}

// flush hands the pending bytes to the writer once enough accumulated.
func (e *encoder) flush(force bool) error {
	if len(e.buf) < 64<<10 && !force {
		return nil
	}
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

func (e *encoder) entry(x Entry) {
	e.uvarint(x.Version)
	e.varint(x.TS)
	flags := byte(0)
	if x.Deleted {
		flags = 1
	}
	e.buf = append(e.buf, flags)
	e.bytes(x.Value)
}

// runView is what a snapshot copies of a run under its lock.
type runView struct {
	kv     []kvView
	events []Event
	cells  []kvView
}

type kvView struct {
	key     string
	entries []Entry
	trimmed uint64
}

// view copies the references a snapshot at version at needs, the KV chains
// sorted by key. Chains are only appended to or replaced (never changed in
// place) while a snapshot runs, so the copied slice headers stay valid
// after the lock is released.
func (r *Run) view(at uint64) runView {
	order := r.keyOrder()
	r.mu.RLock()
	defer r.mu.RUnlock()
	v := runView{kv: make([]kvView, 0, len(order)), events: r.events[:r.visibleEvents(at)]}
	for _, p := range order {
		v.kv = append(v.kv, kvView{key: p.key, entries: p.c.Entries, trimmed: p.c.Trimmed})
	}
	for k, c := range r.cells {
		if e, ok := c.at(at); ok {
			v.cells = append(v.cells, kvView{key: k, entries: []Entry{e}})
		}
	}
	return v
}

// EncodeSnapshot writes the state at version at to w. Writers may keep
// applying newer versions meanwhile; retention trimming must not run.
func (s *Store) EncodeSnapshot(w io.Writer, at uint64) (SnapshotStats, error) {
	e := &encoder{w: bufio.NewWriterSize(w, 256<<10)}
	for _, r := range s.Runs(at) {
		if err := e.run(r, at); err != nil {
			return e.stats, err
		}
	}
	if err := e.retention(s, at); err != nil {
		return e.stats, err
	}
	e.buf = append(e.buf, tagEnd)
	for _, n := range []uint64{e.stats.Runs, e.stats.Keys, e.stats.Versions, e.stats.Events, e.stats.Cells, e.stats.Policies} {
		e.uvarint(n)
	}
	if err := e.flush(true); err != nil {
		return e.stats, err
	}
	return e.stats, e.w.Flush()
}

func byKey(a, b kvView) int { return strings.Compare(a.key, b.key) }

// keyOrder returns every KV chain of the run sorted by key, and keeps that
// order for the next call: only the keys added since are sorted, then
// merged in. Sorting a million keys cost more than the rest of a
// checkpoint.
func (r *Run) keyOrder() []kvRef {
	r.mu.RLock()
	sorted, added := r.sorted, r.added
	r.mu.RUnlock()
	if added.n == 0 {
		return sorted
	}
	fresh := added.appendTo(make([]kvRef, 0, added.n), 0)
	slices.SortFunc(fresh, func(a, b kvRef) int { return cmp.Compare(a.key, b.key) })
	merged := make([]kvRef, 0, len(sorted)+len(fresh))
	i, j := 0, 0
	for i < len(sorted) && j < len(fresh) {
		if sorted[i].key < fresh[j].key {
			merged = append(merged, sorted[i])
			i++
		} else {
			merged = append(merged, fresh[j])
			j++
		}
	}
	merged = append(append(merged, sorted[i:]...), fresh[j:]...)
	r.mu.Lock()
	if len(r.sorted) == len(sorted) && r.added.n >= added.n { // else another snapshot merged first
		r.sorted, r.added = merged, r.added.after(added.n)
	}
	r.mu.Unlock()
	return merged
}

func (e *encoder) run(r *Run, at uint64) error {
	v := r.view(at)
	e.buf = append(e.buf, tagRun)
	e.buf = append(e.buf, r.ID[:]...)
	e.str(r.Name)
	e.uvarint(r.Version)
	e.varint(r.TS)
	e.stats.Runs++
	for _, kv := range v.kv {
		e.chain(tagKV, kv, at)
		if err := e.flush(false); err != nil {
			return err
		}
	}
	for _, ev := range v.events {
		e.buf = append(e.buf, tagEvent)
		e.uvarint(ev.Seq)
		e.uvarint(ev.Version)
		e.varint(ev.TS)
		e.bytes(ev.Payload)
		e.stats.Events++
		if err := e.flush(false); err != nil {
			return err
		}
	}
	slices.SortFunc(v.cells, byKey)
	for _, c := range v.cells {
		e.buf = append(e.buf, tagCell)
		e.str(c.key)
		e.entry(c.entries[0])
		e.stats.Cells++
		if err := e.flush(false); err != nil {
			return err
		}
	}
	return nil
}

// chain writes the versions of kv at or below at, if there are any.
func (e *encoder) chain(tag byte, kv kvView, at uint64) {
	n := 0
	for n < len(kv.entries) && kv.entries[n].Version <= at {
		n++
	}
	if n == 0 {
		return
	}
	e.buf = append(e.buf, tag)
	e.str(kv.key)
	e.uvarint(kv.trimmed)
	e.uvarint(uint64(n))
	for _, x := range kv.entries[:n] {
		e.entry(x)
	}
	e.stats.Keys++
	e.stats.Versions += uint64(n)
}

func (e *encoder) retention(s *Store, at uint64) error {
	s.mu.RLock()
	ids := make([][16]byte, 0, len(s.retention))
	chains := map[[16]byte][]Entry{}
	for id, c := range s.retention {
		ids = append(ids, id)
		chains[id] = c.Entries
	}
	s.mu.RUnlock()
	slices.SortFunc(ids, func(a, b [16]byte) int { return cmp.Compare(string(a[:]), string(b[:])) })
	for _, id := range ids {
		entries := chains[id]
		n := 0
		for n < len(entries) && entries[n].Version <= at {
			n++
		}
		if n == 0 {
			continue
		}
		e.buf = append(e.buf, tagRetention)
		e.buf = append(e.buf, id[:]...)
		e.uvarint(uint64(n))
		for _, x := range entries[:n] {
			e.entry(x)
		}
		e.stats.Policies++
	}
	return e.flush(true)
}

// ErrSnapshotFormat is wrapped by every DecodeSnapshot error about content.
var ErrSnapshotFormat = errors.New("inmem/state: malformed snapshot content")

type decoder struct {
	r        io.Reader
	br       io.ByteReader
	maxValue uint64
	at       uint64
	stats    SnapshotStats

	// The current run's KV chains, gathered to build its map at the run's
	// end at its final size: growing it key by key costs more than the
	// rest of the decoding. Keys come sorted (see encoder.run), so order
	// alone proves none is repeated.
	kvRun   *Run
	kv      []kvRef
	lastKey string

	slab    slab   // see alloc
	scratch []byte // see textBytes
	value   []byte // see reused
	clock   int64  // the highest timestamp read
}

// flushKV puts the gathered chains into their run's map, and hands the run
// their order (see Run.keyOrder).
func (d *decoder) flushKV() {
	if len(d.kv) == 0 {
		return
	}
	r := d.kvRun
	if r.kv.Len() == 0 {
		r.kv = newKVTable(len(d.kv))
	}
	for _, p := range d.kv {
		r.kv.put(p.key, p.c)
	}
	if len(r.sorted) == 0 {
		r.sorted = d.kv
	} else {
		r.sorted = append(r.sorted, d.kv...) // keys ascend across flushes too
	}
	d.kv = nil
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSnapshotFormat, fmt.Sprintf(format, args...))
}

// failRead is fail for a read that returned err. err stays matchable: a
// *base.CorruptionError from the snapshot framing keeps its file and offset,
// and an I/O error stays an I/O error.
func (d *decoder) failRead(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", ErrSnapshotFormat, fmt.Sprintf(format, args...), err)
}

func (d *decoder) uvarint() (uint64, error) {
	x, err := binary.ReadUvarint(d.br)
	if err != nil {
		return 0, d.failRead(err, "bad number")
	}
	return x, nil
}

func (d *decoder) varint() (int64, error) {
	x, err := binary.ReadVarint(d.br)
	if err != nil {
		return 0, d.failRead(err, "bad number")
	}
	return x, nil
}

func (d *decoder) bytes(alloc func(int) []byte) ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > d.maxValue {
		return nil, d.fail("length %d above the limit %d", n, d.maxValue)
	}
	b := alloc(int(n))
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, d.failRead(err, "cut short")
	}
	d.stats.Bytes += n
	return b, nil
}

// text reads a key or a name: bytes read into a reused buffer, then
// copied once into the string.
func (d *decoder) text() (string, error) {
	b, err := d.textBytes()
	return string(b), err
}

// textBytes reads a key or a name into a buffer the next call reuses.
func (d *decoder) textBytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > d.maxValue {
		return nil, d.fail("length %d above the limit %d", n, d.maxValue)
	}
	if uint64(cap(d.scratch)) < n {
		d.scratch = make([]byte, n)
	}
	b := d.scratch[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, d.failRead(err, "cut short")
	}
	d.stats.Bytes += n
	return b, nil
}

// alloc returns n bytes for a value, carved out of the decoder's slab (see
// slab): a million allocations of a hundred bytes cost the allocator and
// the GC more than the rest of the loading. A slab stays in memory while
// any of its values does, which bounds the waste by the value bytes the
// snapshot held.
func (d *decoder) alloc(n int) []byte { return d.slab.take(n) }

func (d *decoder) version() (uint64, error) {
	v, err := d.uvarint()
	if err == nil && (v == 0 || v > d.at) {
		err = d.fail("version %d outside 1..%d", v, d.at)
	}
	return v, err
}

// entry reads an entry, its value into memory from alloc.
func (d *decoder) entry(alloc func(int) []byte) (Entry, error) {
	var x Entry
	var err error
	if x.Version, err = d.version(); err != nil {
		return x, err
	}
	if x.TS, err = d.varint(); err != nil {
		return x, err
	}
	d.clock = max(d.clock, x.TS)
	flags, err := d.br.ReadByte()
	if err != nil {
		return x, d.failRead(err, "entry flags")
	}
	if flags > 1 {
		return x, d.fail("bad entry flags %d", flags)
	}
	x.Deleted = flags == 1
	x.Value, err = d.bytes(alloc)
	return x, err
}

// DecodeSnapshot reads a snapshot stream written at version at. No length
// may exceed maxValue. The result's last version is at, and its clock the
// highest timestamp it holds: every commit leaves its newest write in the
// state, so that is the clock at version at (a snapshot header records it
// too; see AdvanceClock).
func DecodeSnapshot(r io.Reader, at uint64, maxValue int) (*Store, SnapshotStats, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		b := bufio.NewReader(r)
		r, br = b, b
	}
	d := &decoder{r: r, br: br, maxValue: uint64(maxValue), at: at}
	s := New()
	s.last.Store(at)
	var cur *Run
	for {
		tag, err := br.ReadByte()
		if err != nil {
			return nil, d.stats, d.failRead(err, "missing end marker")
		}
		if tag == tagRun || tag == tagRetention || tag == tagEnd {
			d.flushKV()
		}
		if tag == tagEnd {
			if err := d.end(); err != nil {
				return nil, d.stats, err
			}
			s.clock.Store(d.clock)
			return s, d.stats, nil
		}
		if tag == tagRun {
			cur, err = d.run(s)
		} else if tag == tagRetention {
			err = d.retention(s)
		} else if cur == nil {
			err = d.fail("tag %q before any run", tag)
		} else {
			err = d.runEntry(cur, tag)
		}
		if err != nil {
			return nil, d.stats, err
		}
	}
}

func (d *decoder) end() error {
	want := []uint64{d.stats.Runs, d.stats.Keys, d.stats.Versions, d.stats.Events, d.stats.Cells, d.stats.Policies}
	for i, w := range want {
		got, err := d.uvarint()
		if err != nil {
			return err
		}
		if got != w {
			return d.fail("end marker count %d is %d, read %d", i, got, w)
		}
	}
	// NB: reading past the end marker is what makes the snapshot framing
	// check its trailer, so a damaged trailer shows here.
	switch _, err := d.br.ReadByte(); {
	case err == nil:
		return d.fail("bytes after the end marker")
	case err != io.EOF:
		return d.failRead(err, "after the end marker")
	}
	return nil
}

func (d *decoder) run(s *Store) (*Run, error) {
	var id [16]byte
	if _, err := io.ReadFull(d.r, id[:]); err != nil {
		return nil, d.failRead(err, "run id cut short")
	}
	name, err := d.text()
	if err != nil {
		return nil, err
	}
	v, err := d.version()
	if err != nil {
		return nil, err
	}
	ts, err := d.varint()
	if err != nil {
		return nil, err
	}
	d.clock = max(d.clock, ts)
	if len(name) == 0 || s.runs[id] != nil || s.byName[name] != nil {
		return nil, d.fail("run %q (%x) is empty or repeated", name, id)
	}
	r := newRun(id, name, v, ts)
	s.addRun(r)
	d.stats.Runs++
	return r, nil
}

// chainHead reads a chain's trim mark and length.
func (d *decoder) chainHead() (trimmed, n uint64, err error) {
	if trimmed, err = d.uvarint(); err != nil {
		return 0, 0, err
	}
	if n, err = d.uvarint(); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, d.fail("empty history")
	}
	return trimmed, n, nil
}

// chainRest reads a chain's n entries, versions above first.
func (d *decoder) chainRest(trimmed, n, first uint64) (*Chain, error) {
	c := newChain()
	if n > 1 { // NB: n comes from disk: preallocate for typical histories only
		c.Entries = make([]Entry, 0, min(n, 64))
	}
	c.Trimmed = trimmed
	prev := first
	for i := uint64(0); i < n; i++ {
		x, err := d.entry(d.alloc)
		if err != nil {
			return nil, err
		}
		if x.Version <= prev {
			return nil, d.fail("versions not increasing (%d after %d)", x.Version, prev)
		}
		prev = x.Version
		c.Entries = append(c.Entries, x)
	}
	d.stats.Versions += n
	return c, nil
}

// kvChain reads the chain of KV key (bytes that the next text call
// reuses) and returns the key to keep with it. A key with one version,
// most keys, gets a block holding the key and the value (see
// newKeyChain): they are read into reused buffers, then copied there once.
func (d *decoder) kvChain(key []byte) (string, *Chain, error) {
	trimmed, n, err := d.chainHead()
	if err != nil {
		return "", nil, err
	}
	if n > 1 {
		c, err := d.chainRest(trimmed, n, 0)
		return string(key), c, err
	}
	x, err := d.entry(d.reused)
	if err != nil {
		return "", nil, err
	}
	k, c := newKeyChain(unsafe.String(unsafe.SliceData(key), len(key)), x)
	c.Trimmed = trimmed
	d.stats.Versions++
	return k, c, nil
}

// reused returns n bytes of a buffer reused value after value; never nil
// (a nil value marks no value).
func (d *decoder) reused(n int) []byte {
	if cap(d.value) < n || d.value == nil {
		d.value = make([]byte, max(n, 64))
	}
	return d.value[:n]
}

func (d *decoder) runEntry(r *Run, tag byte) error {
	switch tag {
	case tagKV:
		kb, err := d.textBytes()
		if err != nil {
			return err
		}
		key := unsafe.String(unsafe.SliceData(kb), len(kb)) // until kvChain copies it
		if r != d.kvRun {
			d.flushKV()
			d.kvRun, d.lastKey = r, ""
		}
		// NB: the first key may be "", so order is checked against the
		// previous key only once there is one.
		if (len(d.kv) > 0 || r.kv.Len() > 0) && key <= d.lastKey {
			return d.fail("key %q repeated or out of order (after %q)", key, d.lastKey)
		}
		key, c, err := d.kvChain(kb)
		if err != nil {
			return err
		}
		d.lastKey = key
		d.kv = append(d.kv, kvRef{key, c})
		d.stats.Keys++
	case tagEvent:
		return d.event(r)
	case tagCell:
		name, err := d.text()
		if err != nil {
			return err
		}
		x, err := d.entry(d.alloc)
		if err != nil {
			return err
		}
		if r.cells[name] != nil {
			return d.fail("cell %q repeated", name)
		}
		c := newChain()
		c.Entries = append(c.Entries, x)
		r.cells[name] = c
		d.stats.Cells++
	default:
		return d.fail("unknown tag %q", tag)
	}
	return nil
}

func (d *decoder) event(r *Run) error {
	seq, err := d.uvarint()
	if err != nil {
		return err
	}
	if seq != uint64(len(r.events)) {
		return d.fail("event %d of run %q where %d is next", seq, r.Name, len(r.events))
	}
	ev := Event{Seq: seq}
	if ev.Version, err = d.version(); err != nil {
		return err
	}
	if n := len(r.events); n > 0 && ev.Version < r.events[n-1].Version {
		return d.fail("event versions decrease")
	}
	if ev.TS, err = d.varint(); err != nil {
		return err
	}
	d.clock = max(d.clock, ev.TS)
	if ev.Payload, err = d.bytes(d.alloc); err != nil {
		return err
	}
	r.events = append(r.events, ev)
	d.stats.Events++
	return nil
}

func (d *decoder) retention(s *Store) error {
	var id [16]byte
	if _, err := io.ReadFull(d.r, id[:]); err != nil {
		return d.failRead(err, "run id cut short")
	}
	if s.retention[id] != nil {
		return d.fail("retention of %x repeated", id)
	}
	n, err := d.uvarint()
	if err != nil {
		return err
	}
	if n == 0 {
		return d.fail("empty retention history")
	}
	c := &Chain{}
	for i := uint64(0); i < n; i++ {
		x, err := d.entry(d.alloc)
		if err != nil {
			return err
		}
		c.Entries = append(c.Entries, x)
	}
	s.retention[id] = c
	d.stats.Policies++
	return nil
}
