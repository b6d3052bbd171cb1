package matrix

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"

	"github.com/in-mem/inmem"
	"github.com/in-mem/inmem/vfs"
)

// Kind is a column of the crash scenario matrix.
type Kind string

// The matrix's crash kinds.
const (
	// Kill kills a real child process with SIGKILL at the point.
	Kill Kind = "kill"
	// PowerDrop loses power at the point; only synced data survives.
	PowerDrop Kind = "powerloss-drop"
	// PowerRandom loses power at the point; a seeded random subset of
	// unsynced writes survives, torn at sector boundaries.
	PowerRandom Kind = "powerloss-random"
	// KillThenPowerLoss kills the process at the point, keeping unsynced
	// writes unsynced (simulated), recovers, then loses power at every
	// sync point of the recovery and of the first commits after it: what
	// the recovery served must survive.
	KillThenPowerLoss Kind = "kill-then-powerloss"
)

// Kinds returns every column.
func Kinds() []Kind {
	return []Kind{Kill, PowerDrop, PowerRandom, KillThenPowerLoss}
}

// Config configures Run.
type Config struct {
	Seed         uint64
	Durabilities []inmem.Durability     // default Strict and Buffered
	Points       []crashtest.CrashPoint // default all
	Kinds        []Kind                 // default all
	// Runs per cell: kill iterations, or random power-loss states. Default 2.
	Runs int
	// Dir is scratch space; each cell gets its own subdirectory.
	Dir string
	// Child starts the workload child of the kill column.
	Child crashtest.Child
	// Progress is called after every cell.
	Progress func(crashtest.Cell)
	// Select, if set, runs only the cells (numbered in matrix order) it
	// accepts: a shard of the matrix.
	Select func(i int) bool
	// Stop, if set, ends the run (after the cell under way) once closed.
	Stop <-chan struct{}
	// Plant, if set, changes every database the power-loss columns open
	// (see crashtest.Session.Plant); the kill column's child takes its own.
	Plant func(*inmem.Options)
}

// expectation is what a cell promises and the check that it held.
type expectation struct {
	text  string
	check func(res *crashtest.CrashTestResult) string // "" if it held
}

// allAckedPresent checks that every acknowledged commit survived.
func allAckedPresent(res *crashtest.CrashTestResult) string {
	v := res.Recovery.Verdict
	if v.Recovered < v.LastAcked {
		return fmt.Sprintf("recovered v%d, but v%d was acknowledged", v.Recovered, v.LastAcked)
	}
	return ""
}

// syncedPresent checks that every commit acknowledged before the last
// completed sync survived: Buffered's promise after a power loss.
func syncedPresent(res *crashtest.CrashTestResult) string {
	v := res.Recovery.Verdict
	if v.Recovered < v.Required {
		return fmt.Sprintf("recovered v%d, but v%d was acknowledged before the last sync", v.Recovered, v.Required)
	}
	return ""
}

// expectations lists, per crash point, the expected result of a crash there
// (for the power-loss columns; the kill column expects every acknowledged
// commit, as a process crash keeps every write).
func expectationFor(p crashtest.CrashPoint, d inmem.Durability, kind Kind) expectation {
	promised, promisedText := allAckedPresent, "every acknowledged commit is present"
	if d == inmem.Buffered && kind != Kill && kind != KillThenPowerLoss {
		promised, promisedText = syncedPresent, "every commit acknowledged before the last sync is present"
	}
	switch p {
	case crashtest.BeforeWALWrite, crashtest.AfterWALWriteBeforeFsync, crashtest.AfterFsync:
		return commitExpectation(p, d)
	case crashtest.DuringSnapshotBeforeRename, crashtest.DuringSnapshotAfterRename, crashtest.DuringManifestUpdate:
		return checkpointExpectation(p)
	case crashtest.DuringSegmentRotation:
		return expectation{"every acknowledged commit is present (the old segment was synced first)", allAckedPresent}
	case crashtest.DuringCompaction:
		return expectation{promisedText + "; half-removed segments do no harm", promised}
	case crashtest.DuringSegmentPrepare:
		return expectation{promisedText + "; the zeros written ahead lie past the log's end, whether they reached the disk or not", promised}
	case crashtest.DuringRecovery:
		return expectation{"a crash during recovery, then a second recovery: " + promisedText, func(res *crashtest.CrashTestResult) string {
			if res.RecoveryCrashes != 1 {
				return "the recovery did not crash"
			}
			return promised(res)
		}}
	}
	return expectation{promisedText, promised}
}

// commitExpectation is what a crash around a commit's write and sync leaves.
func commitExpectation(p crashtest.CrashPoint, d inmem.Durability) expectation {
	switch {
	case p == crashtest.BeforeWALWrite:
		return expectation{"the commit in flight is absent; every acknowledged commit is present", func(res *crashtest.CrashTestResult) string {
			v := res.Recovery.Verdict
			if d == inmem.Strict && v.Recovered != v.LastAcked {
				return fmt.Sprintf("recovered v%d, want exactly the acknowledged v%d", v.Recovered, v.LastAcked)
			}
			if v.Recovered > v.LastAcked {
				return fmt.Sprintf("recovered v%d: a commit never written is present", v.Recovered)
			}
			return ""
		}}
	case p == crashtest.AfterWALWriteBeforeFsync:
		return expectation{"the commit in flight may be present or absent, but whole", func(res *crashtest.CrashTestResult) string {
			// Whole or absent is the model's equality check; here: nothing
			// beyond the one commit in flight, nothing promised missing.
			v := res.Recovery.Verdict
			if v.Recovered > v.MaxKnown || v.Recovered < v.Required {
				return fmt.Sprintf("recovered v%d, outside [v%d, v%d]", v.Recovered, v.Required, v.MaxKnown)
			}
			return ""
		}}
	case d == inmem.Strict:
		return expectation{"the commit in flight was synced: it is present", func(res *crashtest.CrashTestResult) string {
			v := res.Recovery.Verdict
			if v.MaxKnown <= v.LastAcked || v.Recovered != v.MaxKnown {
				return fmt.Sprintf("recovered v%d, want the synced v%d", v.Recovered, v.MaxKnown)
			}
			return ""
		}}
	}
	return expectation{"the sync completed: every acknowledged commit is present", allAckedPresent}
}

// checkpointExpectation is what a crash inside a checkpoint leaves: the
// data, and the old or the new snapshot.
func checkpointExpectation(p crashtest.CrashPoint) expectation {
	snapshotIs := func(want ...uint64) func(*crashtest.CrashTestResult) string {
		return func(res *crashtest.CrashTestResult) string {
			if msg := allAckedPresent(res); msg != "" {
				return msg
			}
			if !slices.Contains(want, res.RecoveryReport.SnapshotID) {
				return fmt.Sprintf("recovery started from snapshot %d, want one of %v", res.RecoveryReport.SnapshotID, want)
			}
			return ""
		}
	}
	switch p {
	case crashtest.DuringSnapshotBeforeRename:
		return expectation{"data present; recovery ignores the unrenamed snapshot and starts from the previous one", snapshotIs(1)}
	case crashtest.DuringSnapshotAfterRename:
		return expectation{"data present; the new snapshot file exists but the MANIFEST still names the previous one", func(res *crashtest.CrashTestResult) string {
			if msg := snapshotIs(1)(res); msg != "" {
				return msg
			}
			if !slices.Contains(res.CrashFiles, "snap-000002.chk") {
				return fmt.Sprintf("the renamed snapshot is missing after the crash: %v", res.CrashFiles)
			}
			return ""
		}}
	}
	return expectation{"data present; the old or the new MANIFEST, never neither", snapshotIs(1, 2)}
}

// matrixHit is the hit of a point the matrix crashes at: the second
// checkpoint for the snapshot points (so a previous snapshot exists), a few
// commits in for the commit points.
func matrixHit(p crashtest.CrashPoint) uint64 {
	switch p {
	case crashtest.DuringSnapshotBeforeRename, crashtest.DuringSnapshotAfterRename:
		return 2
	case crashtest.DuringManifestUpdate:
		return 3 // the second checkpoint's MANIFEST, before its rename
	case crashtest.BeforeWALWrite, crashtest.AfterWALWriteBeforeFsync:
		return 5
	case crashtest.AfterFsync:
		return 3
	case crashtest.DuringSegmentPrepare:
		return 3 // a segment a rotation made, with commits before it
	}
	return 1
}

// Run runs every cell: every crash point × crash kind × durability. Each
// cell checks its expectation (see the package documentation) on top of
// the reference model's judgement of every recovery.
func Run(cfg Config) ([]crashtest.Cell, error) {
	if len(cfg.Durabilities) == 0 {
		cfg.Durabilities = []inmem.Durability{inmem.Strict, inmem.Buffered}
	}
	if len(cfg.Points) == 0 {
		cfg.Points = crashtest.AllCrashPoints()
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = Kinds()
	}
	cfg.Runs = max(cfg.Runs, 1)
	var cells []crashtest.Cell
	i := -1
	for _, d := range cfg.Durabilities {
		for _, p := range cfg.Points {
			for _, k := range cfg.Kinds {
				if i++; cfg.Select != nil && !cfg.Select(i) {
					continue
				}
				select {
				case <-cfg.Stop:
					return cells, nil
				default:
				}
				cell, err := runCell(cfg, p, k, d)
				if err != nil {
					return cells, err
				}
				cells = append(cells, cell)
				if cfg.Progress != nil {
					cfg.Progress(cell)
				}
			}
		}
	}
	return cells, nil
}

func runCell(cfg Config, p crashtest.CrashPoint, k Kind, d inmem.Durability) (crashtest.Cell, error) {
	start := time.Now()
	cell := crashtest.Cell{Point: p.String(), Kind: string(k), Durability: d.String(), Runs: cfg.Runs}
	dir, err := os.MkdirTemp(cfg.Dir, fmt.Sprintf("%s-%s-%s-", d, p, k))
	if err != nil {
		return cell, err
	}
	defer os.RemoveAll(dir)
	if k == Kill {
		err = killCell(cfg, p, d, dir, &cell)
	} else {
		err = powerCell(cfg, p, k, d, dir, &cell)
	}
	cell.Passed = err == nil && len(cell.Failures) == 0 && cell.Hits > 0
	if err == nil && cell.Hits == 0 {
		cell.Failures = append(cell.Failures, "the crash point was never reached")
	}
	cell.Duration = time.Since(start)
	return cell, err
}

func powerCell(cfg Config, p crashtest.CrashPoint, k Kind, d inmem.Durability, dir string, cell *crashtest.Cell) error {
	exp := expectationFor(p, d, k)
	cell.Expectation = exp.text
	for run := 0; run < cfg.Runs; run++ {
		hc := crashtest.DefaultCrashConfig()
		hc.Seed = cfg.Seed*1000 + uint64(run)
		hc.CrashProbability = 0
		hc.CrashTypes = []crashtest.CrashType{crashtest.PowerLoss}
		hc.PowerLossPolicy = vfs.DropUnsynced
		switch k {
		case PowerRandom:
			hc.PowerLossPolicy = vfs.RandomUnsynced
		case KillThenPowerLoss:
			hc.CrashTypes, hc.ThenPowerLoss = []crashtest.CrashType{crashtest.ProcessKill}, true
		}
		hc.Durability = d
		hc.Options.SegmentSize = 4096
		hc.Plant = cfg.Plant
		h := crashtest.NewCrashHarness(filepath.Join(dir, fmt.Sprint(run)), hc)
		h.SetCrashPointHit(p, matrixHit(p))
		res, err := h.RunScenario(crashtest.MixedScenario(3))
		if err != nil {
			return err
		}
		if res.Crashed {
			cell.Hits++
		}
		cell.AckedVerified += res.Recovery.Verdict.AckedKept
		if !res.Recovery.Valid {
			cell.Failures = append(cell.Failures, res.Report)
			continue
		}
		if msg := exp.check(res); msg != "" {
			cell.Failures = append(cell.Failures, fmt.Sprintf("run %d: expected %s: %s", run, exp.text, msg))
		}
		if err := followUp(h, cell, run); err != nil {
			return err
		}
	}
	return nil
}

// followUp crashes the recovered database again a few operations later, the
// same way: a bug whose loss shows only after more commits (a recovery that
// left what it served unsynced) breaks a promise there.
func followUp(h *crashtest.CrashHarness, cell *crashtest.Cell, run int) error {
	h.ClearCrashPoint()
	res, err := h.RunScenario(func(r *crashtest.ScenarioRunner) error {
		for i := range 4 {
			key := fmt.Sprintf("follow-up-%d", i)
			if err := r.KVPut("follow-up", key, crashtest.UniqueValue("follow-up", key, run, 64)); err != nil {
				return err
			}
		}
		return r.EventAppend("follow-up", []byte("follow-up event"))
	})
	if err != nil {
		return err
	}
	cell.AckedVerified += res.Recovery.Verdict.AckedKept
	if !res.Recovery.Valid {
		cell.Failures = append(cell.Failures, fmt.Sprintf("run %d, a crash a few operations later: %s", run, res.Report))
	}
	return nil
}

func killCell(cfg Config, p crashtest.CrashPoint, d inmem.Durability, dir string, cell *crashtest.Cell) error {
	cell.Expectation = "a real SIGKILL at the point: every acknowledged commit is present, the commit in flight whole or absent"
	if cfg.Child.Binary == "" {
		return fmt.Errorf("crashtest: the kill column needs the workload child's binary")
	}
	pc := proc.ProcessCrashConfig{
		MinRuntime: 3 * time.Second, MaxRuntime: 3 * time.Second, Iterations: cfg.Runs,
		CrashPoints: []crashtest.CrashPoint{p}, MaxHit: 2, Seed: cfg.Seed, Durability: d,
		SegmentSize: 4096, Args: cfg.Child.Args, Env: cfg.Child.Env,
	}
	if p == crashtest.DuringRecovery {
		// The first child creates the database and must be killed from
		// outside; every later one crashes in the recovery of its open.
		pc.MinRuntime, pc.MaxRuntime, pc.MaxHit, pc.Iterations = 300*time.Millisecond, 300*time.Millisecond, 1, cfg.Runs+1
	}
	res, err := proc.NewProcessCrashTester(cfg.Child.Binary, dir, pc).Run()
	if err != nil {
		return err
	}
	for _, r := range res.Results {
		if r.CrashPoint == p.String() {
			cell.Hits++
		}
		if !r.RecoverySucceeded {
			cell.Failures = append(cell.Failures, r.String())
		}
	}
	cell.AckedVerified = res.AckedVerified
	return nil
}
