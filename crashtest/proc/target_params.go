package proc

import (
	"os"
	"slices"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// The settings that point a scenario (kill, kernel, barriers) at another
// engine, and the lifecycle and depth every workload takes: each is a
// scenario Param, so it is a flag of `inmem crash NAME` and part of a
// reproduction.

// buildHint says how to build the Go target executable.
const buildHint = "build it with: go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget"

// TargetParams are the settings of a scenario that can crash a Target.
func TargetParams() []crashtest.Param {
	return []crashtest.Param{
		{Name: "target", Default: "inmem", Usage: "what to crash: inmem (its own workload and reference model), inmem-buffered (as a key/value target), " +
			"or, with target-binary, a configuration that executable serves (bbolt, sqlite, goleveldb, pebble, badger and their -unsafe forms; py-sqlite, ...)"},
		{Name: "target-binary", Usage: "an executable speaking the target protocol (docs/target-protocol.md); " + buildHint},
		{Name: "target-arg", Kind: crashtest.KindList, Usage: "an argument for target-binary (repeat the setting for more)"},
		crashtest.IntParam("sync-every", 0, 0, 1_000_000, "with a key/value target: every writer also syncs after this many writes (0: only as mix says)"),
		{Name: "mix", Default: DefaultMix.String(), Usage: "with a key/value target: the share of puts, deletes, atomic batches and syncs", Check: checkMix},
		crashtest.DurationParam("check-timeout", 2*time.Minute, time.Second, time.Hour, "time limit of one recovery and its checks: a recovery still running then is reported as a hang"),
		crashtest.IntParam("reopen-every", 0, -1, 1_000_000, "close the store cleanly and open it again after every n operations (0: the scenario's default; -1: never)"),
		crashtest.ChoiceParam("depth", "default", []string{"default", "deep"}, "deep: longer workloads, more crash states, values from 100 bytes to 16 KiB crossing page, segment and preallocation boundaries (it changes only the settings left at their defaults)"),
	}
}

func checkMix(v string) error {
	_, err := ParseMix(v)
	return err
}

// InmemOwn reports whether the settings crash in-mem's own workload.
func InmemOwn(s crashtest.Settings) bool {
	return s.String("target") == "inmem" && s.String("target-binary") == ""
}

// CheckTarget refuses target settings that cannot run: a missing
// executable, or another engine without one.
func CheckTarget(s crashtest.Settings) error {
	name, bin := s.String("target"), s.String("target-binary")
	if bin != "" {
		if info, err := os.Stat(bin); err != nil || info.IsDir() {
			return &crashtest.SettingError{Name: "target-binary", Value: bin, Want: "want an executable file (" + buildHint + ")"}
		}
		return nil
	}
	if !slices.ContainsFunc(crashtest.InmemTargets(), func(t crashtest.TargetConfig) bool { return t.Name == name }) {
		return &crashtest.SettingError{Name: "target", Value: name, Want: "needs target-binary: " + buildHint}
	}
	return nil
}

// Deep reports whether the settings ask for the deep preset.
func Deep(s crashtest.Settings) bool { return s.String("depth") == "deep" }

// DepthInt returns an Int setting, or deep's value for it when the
// setting is at its default and the preset is deep.
func DepthInt(s crashtest.Settings, params []crashtest.Param, name string, deep int) int {
	if Deep(s) && isDefault(s, params, name) {
		return deep
	}
	return s.Int(name)
}

// DepthDuration is DepthInt for a Duration setting.
func DepthDuration(s crashtest.Settings, params []crashtest.Param, name string, deep time.Duration) time.Duration {
	if Deep(s) && isDefault(s, params, name) {
		return deep
	}
	return s.Duration(name)
}

func isDefault(s crashtest.Settings, params []crashtest.Param, name string) bool {
	i := slices.IndexFunc(params, func(p crashtest.Param) bool { return p.Name == name })
	return i >= 0 && s.String(name) == params[i].Default
}

// TargetChild returns how to start the target of the settings and its
// workload: nil for in-mem's own workload (the session's child runs it),
// the target executable, or the session's own target child (in-mem's
// key/value targets). reopenDefault is the scenario's reopen-every when
// the setting is 0.
func TargetChild(sess *crashtest.Session, reopenDefault int) (crashtest.Child, *TargetWorkload) {
	s := sess.Settings
	if InmemOwn(s) {
		return sess.Child, nil
	}
	mix, _ := ParseMix(s.String("mix"))
	w := &TargetWorkload{Name: s.String("target"), Mix: mix, SyncEvery: s.Int("sync-every"),
		CheckTimeout: s.Duration("check-timeout"), Lifecycle: Lifecycle{ReopenEvery: ReopenEvery(s, reopenDefault)}}
	if Deep(s) {
		w.MaxValueSize = 16 << 10
	}
	if bin := s.String("target-binary"); bin != "" {
		return crashtest.Child{Binary: bin, Args: s.List("target-arg")}, w
	}
	return sess.TargetChild, w
}

// ReopenEvery returns the reopen-every setting: the scenario's default for
// 0, none for -1.
func ReopenEvery(s crashtest.Settings, def int) int {
	switch n := s.Int("reopen-every"); n {
	case 0:
		return def
	case -1:
		return 0
	default:
		return n
	}
}

// TargetSettings are the settings a reproduction of a run with these
// settings repeats.
func TargetSettings(s crashtest.Settings) []crashtest.Setting {
	var out []crashtest.Setting
	for _, name := range []string{"reopen-every", "depth", "check-timeout"} {
		out = append(out, crashtest.Setting{Name: name, Value: s.String(name)})
	}
	if InmemOwn(s) {
		return out
	}
	for _, name := range []string{"target", "sync-every", "mix", "target-binary"} {
		if v := s.String(name); v != "" {
			out = append(out, crashtest.Setting{Name: name, Value: v})
		}
	}
	for _, a := range s.List("target-arg") {
		out = append(out, crashtest.Setting{Name: "target-arg", Value: a})
	}
	return out
}

// TargetLabel is what reports show in the durability column: the target's
// name, or the durability for in-mem's own workload.
func TargetLabel(sess *crashtest.Session) string {
	if InmemOwn(sess.Settings) {
		return sess.Durability.String()
	}
	return sess.Settings.String("target")
}

// BookIteration books one crash of the kill tester (a kill, or a power cut)
// into the session: its verified and lost acknowledgements, its classes,
// its violation or notice (with repro), its lifecycle phase. It reports
// whether the crash broke a promise.
func BookIteration(s *crashtest.Session, r KillIterationResult, summary string, repro crashtest.Reproduction) bool {
	f := &s.Found
	if r.Interrupted {
		f.Interrupted++
		return false
	}
	f.Runs++
	f.AckedVerified += r.AckedKept
	if len(r.Unpromised) > 0 && r.RecoverySucceeded {
		f.PermittedLoss += r.AckedLost
	} else {
		f.AckedLost += r.AckedLost
	}
	f.Count(r.Classes)
	if r.Phase != "" {
		f.Cover(&crashtest.Coverage{Phases: map[string]int{r.Phase: 1}})
	}
	v := crashtest.Violation{Summary: summary, Detail: r.String(), Reproduction: repro, Class: crashtest.Worst(r.Classes)}
	if !r.RecoverySucceeded {
		s.Violation(v)
		return true
	}
	if len(r.Notices) > 0 {
		v.Class = crashtest.ClassCreation
		s.Notice(v)
	}
	return false
}
