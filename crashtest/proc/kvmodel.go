package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// kvModel is the judge of a generic Target: simpler than the
// ReferenceModel, because a Target only puts. Writers put sequential keys
// with unique values (TargetKey, TargetValue), so a recovered store shows
// exactly which puts took effect. After a crash:
//
//   - every acknowledged put must be present with its value, if the crash
//     is a process kill or the configuration is power safe (otherwise its
//     loss is reported as unpromised, not as a violation);
//   - a put in flight may be present (with its value) or absent;
//   - a value no put wrote, or a key no writer issued, is a phantom;
//   - a put found after one recovery must be there after every later one.
type kvModel struct {
	w     TargetWorkload
	seed  uint64
	puts  []*kvPut
	byKey map[string]*kvPut
	// probes are keys no writer issued (each writer's next key): they must
	// be absent.
	probes   []string
	resolved bool
}

type kvPut struct {
	key    string
	value  []byte
	status crashtest.OpStatus // Issued (in flight), Acked, Failed (lost in an earlier crash)
	stamp  uint64             // the clock when the acknowledgement arrived (the barrier explorer's)
	synced bool               // acknowledged before a completed Sync
	found  bool               // present after an earlier recovery: must stay
}

func newKVModel(w TargetWorkload, seed uint64) *kvModel {
	return &kvModel{w: w, seed: seed, byKey: map[string]*kvPut{}}
}

// record feeds the acknowledgements of one child run (iteration, with
// writers writers) into the model and returns how many puts were
// acknowledged.
func (m *kvModel) record(run *childRun, iteration, writers int) int {
	acks := 0
	prev := map[int]int{} // writer → index of its previous line
	last := map[int]int{} // writer → highest op issued
	var ackedAt []*kvPut  // this run's acknowledged puts, in ack order
	ackLine := map[*kvPut]int{}
	for i, l := range run.lines {
		if l.kind != 'I' && l.kind != 'A' && l.kind != 'E' {
			continue
		}
		sync := isTargetSync(l.op, m.w.SyncEvery)
		key := TargetKey(iteration, l.writer, l.op)
		switch {
		case l.kind == 'I':
			last[l.writer] = max(last[l.writer], l.op)
			if !sync && m.byKey[key] == nil {
				p := &kvPut{key: key, value: TargetValue(m.seed, key, valueSize(m.w.ValueSize)), status: crashtest.Issued}
				m.puts = append(m.puts, p)
				m.byKey[key] = p
			}
		case l.kind == 'A' && sync:
			if before, ok := prev[l.writer]; ok {
				for _, p := range ackedAt {
					if ackLine[p] < before {
						p.synced = true
					}
				}
			}
		case l.kind == 'A':
			if p := m.byKey[key]; p != nil && p.status == crashtest.Issued {
				p.status = crashtest.Acked
				if i < len(run.at) {
					p.stamp = run.at[i]
				}
				ackLine[p] = i
				ackedAt = append(ackedAt, p)
				acks++
			}
		}
		prev[l.writer] = i
	}
	for w := 1; w <= max(writers, 1); w++ {
		k := last[w] + 1
		if isTargetSync(k, m.w.SyncEvery) {
			k++
		}
		m.probes = append(m.probes, TargetKey(iteration, w, k))
	}
	return acks
}

// acked returns the number of acknowledged puts still expected.
func (m *kvModel) acked() int {
	n := 0
	for _, p := range m.puts {
		if p.status == crashtest.Acked {
			n++
		}
	}
	return n
}

// keys returns every key the checker must read: the puts still expected
// or in flight, and the probes.
func (m *kvModel) keys() []string {
	var ks []string
	for _, p := range m.puts {
		if p.status != crashtest.Failed {
			ks = append(ks, p.key)
		}
	}
	return append(ks, m.probes...)
}

// checkResult is what the target checker read from a recovered store.
type checkResult struct {
	openErr  string // "" if the store opened
	values   map[string][]byte
	missing  map[string]bool
	getErrs  map[string]string
	probe    string // "ok" or the error of a put after recovery
	closeErr string // "ok" or the error of Close
	duration time.Duration
}

// kvVerdict is the judgement of one recovered store.
type kvVerdict struct {
	acked, kept, lost, lostSynced, inFlight, phantoms int
	violations, unpromised                            []crashtest.StateMismatch
}

// judge compares a recovered store with the model. With required set (the
// barrier explorer), only puts acknowledged at or before that clock are
// promised. judge does not change the model; settle does.
func (m *kvModel) judge(c *checkResult, crash crashtest.CrashType, required *uint64) kvVerdict {
	var v kvVerdict
	promised := crash != crashtest.PowerLoss || m.w.PowerSafe
	report := func(must bool, entity, exp, act string) {
		if must && promised {
			v.violations = append(v.violations, crashtest.StateMismatch{Entity: entity, Expected: exp, Actual: act})
		} else {
			v.unpromised = append(v.unpromised, crashtest.StateMismatch{Entity: entity, Expected: exp, Actual: act})
		}
	}
	if c.openErr != "" {
		report(true, "store", "to open after the crash", c.openErr)
	}
	for _, p := range m.puts {
		if p.status == crashtest.Failed {
			continue
		}
		must := p.status == crashtest.Acked && (required == nil || p.found || p.stamp <= *required)
		if p.status == crashtest.Acked {
			v.acked++
		} else {
			v.inFlight++
		}
		m.judgePut(p, c, must, report, &v)
	}
	for _, k := range m.probes {
		if got, ok := c.values[k]; ok {
			v.phantoms++
			report(true, "key "+k, "absent (no writer issued it)", fmt.Sprintf("present: %s", short(got)))
		}
	}
	if c.openErr == "" && c.probe != "ok" {
		report(true, "probe", "a put and get after recovery to succeed", c.probe)
	}
	if c.openErr == "" && c.closeErr != "ok" {
		report(true, "close", "a clean close after recovery", c.closeErr)
	}
	return v
}

func (m *kvModel) judgePut(p *kvPut, c *checkResult, must bool, report func(bool, string, string, string), v *kvVerdict) {
	// must: an acknowledged put the crash state has to hold (if the
	// configuration promises it at all).
	state := "acknowledged"
	if p.status == crashtest.Issued {
		state = "in flight"
	}
	if p.synced {
		state += ", synced"
	}
	got, ok := c.values[p.key]
	switch {
	case ok && bytes.Equal(got, p.value):
		if p.status == crashtest.Acked && !p.found {
			v.kept++ // counted once, at the first recovery that finds it
		}
	case ok:
		v.phantoms++
		report(true, "key "+p.key, fmt.Sprintf("%s (%s)", short(p.value), state), "a value no put wrote: "+short(got))
	case c.getErrs[p.key] != "":
		report(true, "key "+p.key, fmt.Sprintf("readable (%s)", state), c.getErrs[p.key])
	case must:
		v.lost++
		if p.synced {
			v.lostSynced++
		}
		report(true, "key "+p.key, fmt.Sprintf("%s (%s)", short(p.value), state), "missing")
	}
	// Otherwise the put is absent, and was in flight or acknowledged only
	// after the crash state's clock: nothing was promised about it yet.
}

// settle accepts a recovered store as the base of the next iteration: what
// is present must stay, what is missing is gone. A store that did not open
// starts over.
func (m *kvModel) settle(c *checkResult) {
	for _, p := range m.puts {
		if p.status == crashtest.Failed {
			continue
		}
		if got, ok := c.values[p.key]; ok && c.openErr == "" && bytes.Equal(got, p.value) {
			p.status, p.found = crashtest.Acked, true
		} else {
			p.status = crashtest.Failed
		}
	}
	m.probes = nil
}

// resolve asks the binary whether the target configuration is power safe
// (and whether it knows it at all).
func (m *kvModel) resolve(binary string, args, env []string) error {
	if m.resolved {
		return nil
	}
	w, err := ResolveTarget(binary, args, env, m.w.Name)
	if err != nil {
		return err
	}
	m.w.PowerSafe, m.resolved = w.PowerSafe, true
	return nil
}

// ResolveTarget asks a target child binary (binary, then args, then "list")
// for the configuration named name and whether it is power safe.
func ResolveTarget(binary string, args, env []string, name string) (TargetWorkload, error) {
	cmd := exec.Command(binary, append(append([]string{}, args...), "list")...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return TargetWorkload{}, fmt.Errorf("crashtest: asking %s for its targets: %w", binary, err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if f[0] == name {
			return TargetWorkload{Name: name, PowerSafe: f[1] == "safe"}, nil
		}
		names = append(names, f[0])
	}
	return TargetWorkload{}, fmt.Errorf("crashtest: %s does not know target %q (it knows: %s)", binary, name, strings.Join(names, ", "))
}

// checkTarget runs the checker (binary, args, "check") on the store in dir
// and parses what it read.
func checkTarget(binary string, args, env []string, target, dir string, keys []string) (*checkResult, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(append([]string{}, args...), "check", "--target", target, "--dir", dir)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(strings.Join(keys, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	c := &checkResult{values: map[string][]byte{}, missing: map[string]bool{}, getErrs: map[string]string{}}
	if perr := c.parse(out); perr != nil {
		return nil, perr
	}
	c.duration = time.Since(start)
	if err != nil || c.probe == "" {
		// The checker died (an engine faulting on a damaged file) or hung.
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if c.openErr == "" {
			c.openErr = fmt.Sprintf("the checker did not finish: %v %s", err, msg)
		}
	}
	return c, nil
}

func (c *checkResult) parse(out []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		key, arg, _ := strings.Cut(rest, " ")
		switch kind {
		case "O":
		case "X":
			c.openErr = rest
		case "V":
			v, err := hex.DecodeString(arg)
			if err != nil {
				return fmt.Errorf("crashtest: the checker wrote a bad value for %s: %w", key, err)
			}
			c.values[key] = v
		case "M":
			c.missing[key] = true
		case "G":
			c.getErrs[key] = arg
		case "P":
			c.probe = rest
		case "C":
			c.closeErr = rest
		default:
			return fmt.Errorf("crashtest: the checker wrote %q", sc.Text())
		}
	}
	return sc.Err()
}

// short quotes at most 40 bytes of b, for reports.
func short(b []byte) string { return fmt.Sprintf("%.40q (%d bytes)", b, len(b)) }
