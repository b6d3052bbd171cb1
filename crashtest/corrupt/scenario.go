package corrupt

import (
	"context"
	"fmt"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// Scenario is the corruption tester as a campaign scenario: seeded
// databases, each damaged one way and recovered.
var Scenario crashtest.Scenario = scenario{}

type scenario struct{}

func (scenario) Name() string { return "corrupt" }

func (scenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Damage seeded databases (torn tails, bit rot, missing segments, bad MANIFEST or snapshot) and judge recovery",
		Long: fmt.Sprintf(`corrupt builds a database from a seeded workload, closes it cleanly or leaves
it as a killed process does, damages it one of %d ways (torn tails, garbage,
bit rot, headers, missing segments, the MANIFEST, the snapshot, and length
and count fields set to 4 GiB or past the end of a file) and judges recovery
by the rule of the formats: damage at or after the durable end of the log
that no later record claims synced is a torn tail, and exactly the records
before it open and take new writes; any other damage is refused with an
error naming the file, the record and what is wrong, and changes nothing
on disk; point-in-time recovery opens exactly the records before the
damage. Every recovery's allocations and time are bounded.`, len(damages)),
		Unit: "damaged databases", InAll: true, Budget: 30 * time.Second,
	}
}

func (scenario) Params() []crashtest.Param { return nil }

func (scenario) Check(crashtest.Settings) error { return nil }

func lifecycle(clean bool) string {
	if clean {
		return "after a clean close"
	}
	return "after a process crash"
}

func (scenario) Run(ctx context.Context, s *crashtest.Session) error {
	for done := 0; s.More(ctx, done); done++ {
		seed := s.Seed + uint64(s.Unit(done))
		c := RunCase(Config{Dir: "/db", Seed: seed, Durability: s.Durability, Plant: s.Plant})
		s.Found.Runs++
		s.Found.AckedVerified += c.AckedKept
		if !c.Passed {
			s.Violation(crashtest.Violation{Summary: fmt.Sprintf("seed %d: %s (%s)", seed, c.Damage, lifecycle(c.Clean)),
				Detail: "expected " + c.Expect + ": " + c.Detail, Reproduction: s.Reproduction(seed)})
		}
		s.Progress(done+1, s.Iterations, c.Damage)
	}
	return nil
}
