package crashpoint_test

import (
	"fmt"
	"github.com/in-mem/inmem/internal/testutil"
	"strings"
	"sync"
	"testing"

	"github.com/in-mem/inmem/crashpoint"
)

func testSeed(t *testing.T) uint64 { return testutil.Seed(t, "./crashpoint") }

func TestPoint_ParseString(t *testing.T) {
	all := crashpoint.All()
	if len(all) != int(crashpoint.NumPoints) || len(all) < 9 {
		t.Fatalf("All() = %v", all)
	}
	seen := map[string]bool{}
	for i, p := range all {
		if p != crashpoint.Point(i) {
			t.Fatalf("All()[%d] = %v", i, p)
		}
		name := p.String()
		if seen[name] || strings.HasPrefix(name, "Point(") {
			t.Fatalf("point %d has name %q", i, name)
		}
		seen[name] = true
		for _, s := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			got, err := crashpoint.Parse(s)
			if err != nil || got != p {
				t.Fatalf("Parse(%q) = %v, %v; want %v", s, got, err, p)
			}
		}
	}
	// docs/design.md (section 5) names at least these.
	for _, name := range []string{"BeforeWALWrite", "AfterWALWriteBeforeFsync", "AfterFsync", "DuringSegmentRotation",
		"DuringSnapshotBeforeRename", "DuringSnapshotAfterRename", "DuringManifestUpdate", "DuringCompaction", "DuringRecovery"} {
		if !seen[name] {
			t.Errorf("point %s is missing", name)
		}
	}
	if _, err := crashpoint.Parse("DuringLunch"); err == nil || !strings.Contains(err.Error(), "BeforeWALWrite") {
		t.Fatalf("Parse of an unknown name = %v, want an error listing the known ones", err)
	}
	if s := crashpoint.NumPoints.String(); s != fmt.Sprintf("Point(%d)", crashpoint.NumPoints) {
		t.Fatalf("String of an unknown point = %q", s)
	}
}

func TestNilSet(t *testing.T) {
	var s *crashpoint.Set
	s.Hit(crashpoint.AfterFsync) // must not panic
	var zero crashpoint.Set
	zero.Hit(crashpoint.AfterFsync)
	if zero.Hits(crashpoint.AfterFsync) != 0 {
		t.Fatalf("a disarmed Set counted a hit")
	}
}

// TestOnHit: the action runs once, at exactly the nth hit of the point, on
// the goroutine that hit it; other points do not count.
func TestOnHit(t *testing.T) {
	for n := uint64(1); n <= 4; n++ {
		s := crashpoint.New()
		var fired []uint64
		s.Arm(crashpoint.OnHit(crashpoint.AfterFsync, n), func(p crashpoint.Point) {
			if p != crashpoint.AfterFsync {
				t.Errorf("action got %v", p)
			}
			fired = append(fired, s.Hits(crashpoint.AfterFsync))
		})
		for range 6 {
			s.Hit(crashpoint.BeforeWALWrite)
			s.Hit(crashpoint.AfterFsync)
		}
		if len(fired) != 1 || fired[0] != n {
			t.Fatalf("OnHit(%d) fired at hits %v", n, fired)
		}
		if p, ok := s.Fired(); !ok || p != crashpoint.AfterFsync {
			t.Fatalf("Fired() = %v, %v", p, ok)
		}
		if s.Hits(crashpoint.AfterFsync) != 6 || s.Hits(crashpoint.BeforeWALWrite) != 6 {
			t.Fatalf("hits %d and %d, want 6 each", s.Hits(crashpoint.AfterFsync), s.Hits(crashpoint.BeforeWALWrite))
		}
	}
}

// TestFiresOncePerArm: a Set fires at most once per Arm, even when its
// trigger would fire again; Arm resets hits and the fired state.
func TestFiresOncePerArm(t *testing.T) {
	s := crashpoint.New()
	count := 0
	trig := crashpoint.Any(crashpoint.OnHit(crashpoint.DuringRecovery, 1), crashpoint.OnHit(crashpoint.DuringRecovery, 2),
		crashpoint.OnHit(crashpoint.DuringCompaction, 1))
	s.Arm(trig, func(crashpoint.Point) { count++ })
	for range 3 {
		s.Hit(crashpoint.DuringRecovery)
		s.Hit(crashpoint.DuringCompaction)
	}
	if count != 1 {
		t.Fatalf("fired %d times in one Arm", count)
	}
	s.Arm(trig, func(crashpoint.Point) { count++ })
	if _, ok := s.Fired(); ok || s.Hits(crashpoint.DuringRecovery) != 0 {
		t.Fatalf("Arm did not reset")
	}
	s.Hit(crashpoint.DuringCompaction)
	if p, ok := s.Fired(); count != 2 || !ok || p != crashpoint.DuringCompaction {
		t.Fatalf("second Arm: count %d, fired %v %v", count, p, ok)
	}
}

func TestAny_None(t *testing.T) {
	if crashpoint.Any().Fire(crashpoint.AfterFsync, 1) {
		t.Fatalf("Any() fired")
	}
}

// TestRandom: deterministic by seed, about the given probability, limited
// to the given points.
func TestRandom(t *testing.T) {
	seed := testSeed(t)
	draw := func(tr crashpoint.Trigger, p crashpoint.Point) []bool {
		out := make([]bool, 2000)
		for i := range out {
			out[i] = tr.Fire(p, uint64(i+1))
		}
		return out
	}
	a := draw(crashpoint.Random(0.3, seed), crashpoint.AfterFsync)
	b := draw(crashpoint.Random(0.3, seed), crashpoint.AfterFsync)
	c := draw(crashpoint.Random(0.3, seed+1), crashpoint.AfterFsync)
	same, fired := true, 0
	for i := range a {
		same = same && a[i] == c[i]
		if a[i] != b[i] {
			t.Fatalf("the same seed drew differently at hit %d", i+1)
		}
		if a[i] {
			fired++
		}
	}
	if same {
		t.Fatalf("seeds %d and %d drew the same 2000 hits", seed, seed+1)
	}
	if fired < 450 || fired > 750 {
		t.Fatalf("fired %d of 2000 hits at probability 0.3", fired)
	}
	only := crashpoint.Random(1, seed, crashpoint.DuringCompaction)
	if only.Fire(crashpoint.AfterFsync, 1) || !only.Fire(crashpoint.DuringCompaction, 1) {
		t.Fatalf("Random ignores its points")
	}
	if crashpoint.Random(0, seed).Fire(crashpoint.AfterFsync, 1) {
		t.Fatalf("probability 0 fired")
	}

	// Armed in a Set, the same seed stops the same workload at the same hit.
	stop := func(seed uint64) (crashpoint.Point, uint64) {
		s := crashpoint.New()
		var at uint64
		s.Arm(crashpoint.Random(0.05, seed), func(p crashpoint.Point) { at = s.Hits(p) })
		for range 500 {
			for _, p := range crashpoint.All() {
				s.Hit(p)
			}
		}
		p, _ := s.Fired()
		return p, at
	}
	p1, h1 := stop(seed)
	p2, h2 := stop(seed)
	if p1 != p2 || h1 != h2 || h1 == 0 {
		t.Fatalf("seed %d stopped at %v#%d, then at %v#%d", seed, p1, h1, p2, h2)
	}
}

// TestCount: counting never fires; Disarm stops counting but keeps the
// counts readable.
func TestCount(t *testing.T) {
	s := crashpoint.New()
	s.Count()
	for range 3 {
		s.Hit(crashpoint.DuringManifestUpdate)
	}
	if _, ok := s.Fired(); ok || s.Hits(crashpoint.DuringManifestUpdate) != 3 {
		t.Fatalf("Count: fired or miscounted (%d)", s.Hits(crashpoint.DuringManifestUpdate))
	}
	s.Disarm()
	s.Hit(crashpoint.DuringManifestUpdate)
	if s.Hits(crashpoint.DuringManifestUpdate) != 3 {
		t.Fatalf("a disarmed Set counted")
	}
	// Disarm drops the action: re-arming the counter alone never fires it.
	ran := false
	s.Arm(crashpoint.OnHit(crashpoint.AfterFsync, 1), func(crashpoint.Point) { ran = true })
	s.Disarm()
	s.Hit(crashpoint.AfterFsync)
	if ran {
		t.Fatalf("a disarmed Set ran its action")
	}
}

// TestConcurrentHits: hits from many goroutines are all counted and the
// trigger fires once.
func TestConcurrentHits(t *testing.T) {
	s := crashpoint.New()
	var mu sync.Mutex
	fired := 0
	s.Arm(crashpoint.OnHit(crashpoint.AfterFsync, 500), func(crashpoint.Point) {
		mu.Lock()
		fired++
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				s.Hit(crashpoint.AfterFsync)
			}
		}()
	}
	wg.Wait()
	if s.Hits(crashpoint.AfterFsync) != 8000 || fired != 1 {
		t.Fatalf("hits %d fired %d", s.Hits(crashpoint.AfterFsync), fired)
	}
}

// TestDisarmedHitAllocs: the engine calls Hit on its hot path.
func TestDisarmedHitAllocs(t *testing.T) {
	s := crashpoint.New()
	var nilSet *crashpoint.Set
	if n := testing.AllocsPerRun(1000, func() { s.Hit(crashpoint.AfterFsync); nilSet.Hit(crashpoint.AfterFsync) }); n != 0 {
		t.Fatalf("a disarmed hit allocates %.1f times", n)
	}
}

// The benchmarks show the cost docs/design.md promises: a disarmed
// (or nil) Set costs a nil check and one atomic load per hit; an armed one
// takes a lock.
//
//	go test ./crashpoint -run '^$' -bench SetHit
func BenchmarkSetHit_Disarmed(b *testing.B) {
	s := crashpoint.New()
	for b.Loop() {
		s.Hit(crashpoint.AfterFsync)
	}
}

func BenchmarkSetHit_Nil(b *testing.B) {
	var s *crashpoint.Set
	for b.Loop() {
		s.Hit(crashpoint.AfterFsync)
	}
}

func BenchmarkSetHit_Armed(b *testing.B) {
	s := crashpoint.New()
	s.Count()
	for b.Loop() {
		s.Hit(crashpoint.AfterFsync)
	}
}

func BenchmarkSetHit_DisarmedParallel(b *testing.B) {
	s := crashpoint.New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Hit(crashpoint.AfterFsync)
		}
	})
}
