package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/crashtest"
)

// Scenario is the crash matrix as a campaign scenario.
var Scenario crashtest.Scenario = scenario{}

type scenario struct{}

func (scenario) Name() string { return "matrix" }

func (scenario) Help() crashtest.Help {
	return crashtest.Help{
		Short: "Crash at every crash point × {kill, power loss drop, power loss random} × durability",
		Long: `matrix crashes at every crash point of the engine under a real SIGKILL of a
child process, a power loss that drops unsynced data and a power loss that
keeps a random torn subset of it. Each cell has its expected result (see the
matrix package) and checks it on top of the reference model's judgement.
point and type narrow it to some cells.`,
		Unit: "crashes", InAll: true, Budget: time.Minute,
	}
}

func (scenario) Params() []crashtest.Param {
	var kinds []string
	for _, k := range Kinds() {
		kinds = append(kinds, string(k))
	}
	return []crashtest.Param{
		{Name: "point", Default: "all", Usage: "crash points, comma-separated (all: every point)", Check: checkPoints},
		{Name: "type", Default: "all", Usage: "crash types, comma-separated: " + strings.Join(kinds, ", ") + " (all: every type)", Check: checkKinds},
		crashtest.IntParam("runs", 2, 1, 100, "crashes per cell"),
	}
}

func (scenario) Check(crashtest.Settings) error { return nil }

func checkPoints(v string) error {
	_, err := points(v)
	return err
}

func checkKinds(v string) error {
	_, err := kinds(v)
	return err
}

func points(v string) ([]crashtest.CrashPoint, error) {
	if v == "all" {
		return crashpoint.All(), nil
	}
	var ps []crashtest.CrashPoint
	for _, name := range strings.Split(v, ",") {
		p, err := crashpoint.Parse(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("want all or crash points among %v", crashpoint.All())
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func kinds(v string) ([]Kind, error) {
	if v == "all" {
		return Kinds(), nil
	}
	var ks []Kind
	for _, name := range strings.Split(v, ",") {
		k := Kind(strings.TrimSpace(name))
		if !slices.Contains(Kinds(), k) {
			return nil, fmt.Errorf("want all or crash types among %v", Kinds())
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func (scenario) Run(ctx context.Context, s *crashtest.Session) error {
	if s.Child.Binary == "" {
		return errors.New("crashtest: the matrix needs the workload child's binary (Session.Child)")
	}
	ps, _ := points(s.Settings.String("point"))
	ks, _ := kinds(s.Settings.String("type"))
	total, done := len(ps)*len(ks), 0
	_, err := Run(Config{
		Seed: s.Seed, Durabilities: []inmem.Durability{s.Durability}, Points: ps, Kinds: ks, Runs: s.Settings.Int("runs"),
		Dir: s.Dir, Child: s.Child, Select: s.Mine, Stop: ctx.Done(), Plant: s.Plant,
		Progress: func(c crashtest.Cell) {
			done++
			record(s, c)
			s.Progress(done, (total+s.Shards-1)/max(s.Shards, 1), c.Point+" × "+c.Kind)
		},
	})
	return err // each cell was recorded as it finished
}

func record(s *crashtest.Session, c crashtest.Cell) {
	c.Reproduction = s.Reproduction(s.Seed, crashtest.Setting{Name: "point", Value: c.Point},
		crashtest.Setting{Name: "type", Value: c.Kind}, crashtest.Setting{Name: "runs", Value: strconv.Itoa(c.Runs)})
	f := &s.Found
	f.Cells = append(f.Cells, c)
	f.Runs += c.Runs
	f.AckedVerified += c.AckedVerified
	if !c.Passed {
		s.Violation(crashtest.Violation{Summary: fmt.Sprintf("%s × %s: expected %s", c.Point, c.Kind, c.Expectation),
			Detail: strings.Join(c.Failures, "\n"), Reproduction: c.Reproduction})
	}
}
