// Package crashpoint names the places in the in-mem engine where a crash
// test can stop the world, and lets a test arm them.
//
// The engine calls Set.Hit(p) at each point. A Set that is nil or disarmed
// costs one nil check and one atomic load per hit. Arming a Set with a
// Trigger runs an action at the hits the trigger chooses: freeze the
// filesystem (an in-process crash), take a power-loss clone of it, or kill
// the process with a real SIGKILL, the way RocksDB's kill points work.
//
// Triggers compose like errorfs injectors: OnHit fires at the nth hit of one
// point, Random at each hit with a probability, Any at the first of several.
package crashpoint

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
)

// Point is one crash point (the list, with what each means, is also in
// docs/design.md). Keep NumPoints last; new points go before it, so that the
// numbers of the others never change.
type Point uint8

const (
	// BeforeWALWrite: a commit is built, nothing of it is written.
	BeforeWALWrite Point = iota
	// AfterWALWriteBeforeFsync: the record is written to the file, not synced.
	AfterWALWriteBeforeFsync
	// AfterFsync: the record is synced, the commit not yet acknowledged.
	AfterFsync
	// DuringSegmentRotation: a new segment is created and its header written;
	// neither the header nor the directory is synced.
	DuringSegmentRotation
	// DuringSnapshotBeforeRename: the snapshot temp file is written and
	// synced, not renamed.
	DuringSnapshotBeforeRename
	// DuringSnapshotAfterRename: the snapshot is renamed and its directory
	// synced; the MANIFEST does not point at it yet.
	DuringSnapshotAfterRename
	// DuringManifestUpdate: MANIFEST.tmp is written and synced. Hit twice per
	// update: before the rename, and after it but before the directory sync.
	DuringManifestUpdate
	// DuringCompaction: some covered segments are removed, others not. Hit
	// after each removal, before the directory sync.
	DuringCompaction
	// DuringRecovery: replay or tail truncation is under way. Hit after each
	// replayed segment, and before and after a tail truncation (before its
	// sync).
	DuringRecovery
	// DuringLogEndUpdate: the MANIFEST is being replaced to record a new
	// durable end of the log, MANIFEST.tmp written and synced. Hit twice per
	// update, before the rename and after it (before the directory sync), at
	// each of: a segment rotation (the new segment and its directory entry
	// are durable, no record is in it yet), the end of a recovery that
	// changed or synced the log, and a clean Close (the log is synced and
	// closed). Checkpoints record the log end in their own MANIFEST update
	// (DuringManifestUpdate).
	DuringLogEndUpdate
	// DuringSegmentPrepare: zeros are written ahead of the log over the next
	// chunk of the active segment, off the commit path, not yet synced.
	// Hit once per chunk, between the writes and the sync.
	DuringSegmentPrepare
	// NumPoints is the number of points.
	NumPoints
)

var names = [NumPoints]string{
	"BeforeWALWrite",
	"AfterWALWriteBeforeFsync",
	"AfterFsync",
	"DuringSegmentRotation",
	"DuringSnapshotBeforeRename",
	"DuringSnapshotAfterRename",
	"DuringManifestUpdate",
	"DuringCompaction",
	"DuringRecovery",
	"DuringLogEndUpdate",
	"DuringSegmentPrepare",
}

func (p Point) String() string {
	if p < NumPoints {
		return names[p]
	}
	return fmt.Sprintf("Point(%d)", uint8(p))
}

// All returns every point, in order.
func All() []Point {
	ps := make([]Point, NumPoints)
	for i := range ps {
		ps[i] = Point(i)
	}
	return ps
}

// Parse returns the point named s (as String spells it; case does not
// matter).
func Parse(s string) (Point, error) {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return Point(i), nil
		}
	}
	return 0, fmt.Errorf("inmem/crashpoint: unknown crash point %q (known: %s)", s, strings.Join(names[:], ", "))
}

// Trigger decides whether the hit-th hit (1-based) of p crashes. Fire is
// called with the Set's lock held, one hit at a time.
type Trigger interface {
	Fire(p Point, hit uint64) bool
}

type onHit struct {
	p Point
	n uint64
}

func (t onHit) Fire(p Point, hit uint64) bool { return p == t.p && hit == t.n }

// OnHit fires at the nth (1-based) hit of p.
func OnHit(p Point, n uint64) Trigger { return onHit{p, n} }

type random struct {
	prob   float64
	rng    *rand.Rand
	points map[Point]bool
}

func (t *random) Fire(p Point, _ uint64) bool {
	if len(t.points) > 0 && !t.points[p] {
		return false
	}
	return t.rng.Float64() < t.prob
}

// Random fires at each hit with probability prob, drawn from a generator
// seeded with seed, at the given points (all if none are given).
func Random(prob float64, seed uint64, points ...Point) Trigger {
	t := &random{prob: prob, rng: rand.New(rand.NewPCG(seed, 0xc4a54)), points: map[Point]bool{}}
	for _, p := range points {
		t.points[p] = true
	}
	return t
}

type anyTrigger []Trigger

func (ts anyTrigger) Fire(p Point, hit uint64) bool {
	for _, t := range ts {
		if t.Fire(p, hit) {
			return true
		}
	}
	return false
}

// Any fires when any of ts fires.
func Any(ts ...Trigger) Trigger { return anyTrigger(ts) }

// Set is the arming state of every point for one database (or one process).
// The zero value is ready and disarmed. A Set fires at most once per Arm: a
// crash is the end of the world it stops.
type Set struct {
	armed atomic.Bool

	mu      sync.Mutex
	trigger Trigger
	action  func(Point)
	hits    [NumPoints]uint64
	fired   bool
	firedAt Point
}

// New returns a disarmed Set.
func New() *Set { return &Set{} }

// Hit records that the engine reached p and runs the armed action if the
// trigger fires. A nil Set does nothing.
func (s *Set) Hit(p Point) {
	if s == nil || !s.armed.Load() {
		return
	}
	s.hit(p)
}

func (s *Set) hit(p Point) {
	s.mu.Lock()
	s.hits[p]++
	fire := !s.fired && s.trigger != nil && s.trigger.Fire(p, s.hits[p])
	var action func(Point)
	if fire {
		s.fired, s.firedAt, action = true, p, s.action
	}
	s.mu.Unlock()
	if action != nil {
		action(p)
	}
}

// Arm counts hits from zero and runs action (on the goroutine that hit the
// point) the first time t fires. A nil trigger only counts hits.
func (s *Set) Arm(t Trigger, action func(Point)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trigger, s.action = t, action
	s.hits = [NumPoints]uint64{}
	s.fired = false
	s.armed.Store(true)
}

// Count arms the Set to count hits without ever firing.
func (s *Set) Count() { s.Arm(nil, nil) }

// Disarm stops counting and firing. Hits already counted stay readable.
func (s *Set) Disarm() {
	s.armed.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trigger, s.action = nil, nil
}

// Hits returns how often p was hit since the last Arm.
func (s *Set) Hits(p Point) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

// Fired reports whether the trigger fired since the last Arm, and where.
func (s *Set) Fired() (Point, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firedAt, s.fired
}
