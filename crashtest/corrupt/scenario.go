package corrupt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
		Long: fmt.Sprintf(`corrupt builds a database from a seeded workload, damages it one of %d ways
and checks the outcome the damage calls for: a torn tail opens with a prefix
of the history and takes new writes; damage to durable data is refused with
an error naming the file (and offset) and changes nothing on disk;
point-in-time recovery opens a prefix. No outcome may show a value no commit
wrote.`, len(corruptions)),
		Unit: "damaged databases", InAll: true, Budget: 30 * time.Second,
	}
}

func (scenario) Params() []crashtest.Param { return nil }

func (scenario) Check(crashtest.Settings) error { return nil }

func (scenario) Run(ctx context.Context, s *crashtest.Session) error {
	for done := 0; s.More(ctx, done); done++ {
		seed := s.Seed + uint64(s.Unit(done))
		dir := filepath.Join(s.Dir, fmt.Sprint(seed))
		c := RunCase(Config{Dir: dir, Seed: seed, Durability: s.Durability, Plant: s.Plant})
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		s.Found.Runs++
		s.Found.AckedVerified += c.AckedKept
		if !c.Passed {
			s.Violation(crashtest.Violation{Summary: fmt.Sprintf("seed %d: %s", seed, c.Damage),
				Detail: "expected " + c.Expect + ": " + c.Detail, Reproduction: s.Reproduction(seed)})
		}
		s.Progress(done+1, s.Iterations, c.Damage)
	}
	return nil
}
