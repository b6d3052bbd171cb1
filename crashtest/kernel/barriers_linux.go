package kernel

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/in-mem/inmem/crashtest"
	"github.com/in-mem/inmem/crashtest/proc"
)

func exploreBarriers(cfg BarrierConfig) (res *BarrierResult, err error) {
	if err := fuseAvailable(); err != nil {
		return nil, err
	}
	start := time.Now()
	scratch, err := os.MkdirTemp(cfg.Dir, "inmem-barriers-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := os.RemoveAll(scratch); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	rec, err := recordBarriers(cfg, scratch)
	if err != nil {
		return nil, err
	}
	res = &BarrierResult{AckedOps: rec.judge.Acked(), RecordTime: rec.duration, StateTally: crashtest.NewStateTally()}
	res.Coverage.Merge(rec.judge.Coverage())
	for _, op := range rec.log {
		if op.barrier {
			res.Barriers++
			res.Coverage.SyncPoints++
		} else {
			res.Writes++
			res.BytesWritten += op.size()
		}
	}
	states := planStates(cfg, rec.log)
	files, err := mapStoreFiles(scratch, rec, cfg.MountOptions)
	if err != nil {
		return res, fmt.Errorf("crashtest: mapping the store's files: %w", err)
	}
	perFile := map[string]int{}
	rec.touched = func(s crashState) {
		for _, f := range touched(files, rec.log, s) {
			perFile[f]++
		}
	}
	if err := judgeStates(cfg, scratch, rec, states, res); err != nil {
		return res, err
	}
	res.Coverage.Merge(fileCoverage(files, perFile))
	res.Duration = time.Since(start)
	return res, nil
}

// recording is a workload's run on the recording device.
type recording struct {
	base     []byte    // the image before the workload
	log      []blockOp // what the kernel sent to the device
	judge    *proc.Recording
	duration time.Duration
	// touched books the files a judged state's interrupted writes touched.
	touched func(crashState)
}

// recordBarriers runs the workload child to its end on ext4 over the
// recording filesystem, then unmounts (the unmount's writes are logged too).
func recordBarriers(cfg BarrierConfig, scratch string) (rec *recording, err error) {
	start := time.Now()
	base := filepath.Join(scratch, "base.img")
	if err := makeImage(base, cfg.ImageSize); err != nil {
		return nil, err
	}
	img, err := os.ReadFile(base)
	if err != nil {
		return nil, err
	}
	fuseDir, mnt := filepath.Join(scratch, "fuse"), filepath.Join(scratch, "recording")
	for _, d := range []string{fuseDir, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	rfs, err := mountRecorder(fuseDir, slices.Clone(img))
	if err != nil {
		return nil, err
	}
	m := newExt4Mount(rfs.image(), mnt, cfg.MountOptions)
	defer func() {
		// The loop device goes before the filesystem serving its file.
		if derr := errors.Join(m.down(), rfs.unmount()); derr != nil {
			err = errors.Join(err, fmt.Errorf("crashtest: cleaning up the recording: %w", derr))
		}
	}()
	if err := m.up(); err != nil {
		return nil, err
	}
	judge, err := runBarrierWorkload(cfg, filepath.Join(mnt, "db"), rfs)
	if err != nil {
		return nil, err
	}
	if err := m.down(); err != nil {
		return nil, err
	}
	return &recording{base: img, log: rfs.rec.ops(), judge: judge, duration: time.Since(start)}, nil
}

// runBarrierWorkload runs the workload child to its end and returns its
// recording, every acknowledgement stamped with the write log's length.
func runBarrierWorkload(cfg BarrierConfig, dir string, rfs *recordingFS) (*proc.Recording, error) {
	// A workload of a few hundred operations takes well under a second; a
	// child still running after two minutes is hung, and is killed. Should
	// the pipe's end never come (the acks file never released), the
	// watchdog ends it so that nothing here waits forever.
	const limit = 2 * time.Minute
	watchdog := time.AfterFunc(limit+time.Minute, rfs.rec.acks.Close)
	defer watchdog.Stop()
	return proc.Record(proc.RecordConfig{Child: cfg.Child, Dir: dir, Seed: cfg.Seed, Durability: cfg.Durability, Expect: cfg.Expect,
		Ops: cfg.Ops, Writers: cfg.Writers, SegmentSize: cfg.SegmentSize, Target: cfg.Target, ReopenEvery: cfg.ReopenEvery,
		Clock: rfs.rec.acks.Next, Now: rfs.rec.clock, AckPipe: rfs.ackPipe, Limit: limit, Stop: cfg.Stop})
}

// crashState is one state a disk can be left in: the log up to prefix
// applied, and extra (some blocks written after it).
type crashState struct {
	name   string
	prefix int
	extra  []blockOp
}

// planStates lists the crash states of a log: everything up to each flush
// barrier ("b<j>"), and seeded subsets of the 4 KiB blocks written between
// barrier j and the next ("b<j>+r<s>"), and everything ("end").
func planStates(cfg BarrierConfig, log []blockOp) []crashState {
	var states []crashState
	j, wrote := 0, false
	for i, op := range log {
		if !op.barrier {
			wrote = true
			continue
		}
		if wrote || j == 0 {
			states = append(states, crashState{name: fmt.Sprintf("b%d", j), prefix: i + 1})
		}
		wrote = false
		states = append(states, subsetStates(cfg, log, i+1, j)...)
		j++
	}
	if n := len(states); n > 0 && states[n-1].extra == nil && states[n-1].prefix == len(log) {
		states[n-1].name = "end"
	} else {
		states = append(states, crashState{name: "end", prefix: len(log)})
	}
	return pickStates(cfg, states)
}

// subsetStates builds the seeded subsets of the blocks written after the
// barrier that ends at from, up to the next barrier.
func subsetStates(cfg BarrierConfig, log []blockOp, from, j int) []crashState {
	var blocks []blockOp
	for _, op := range log[from:] {
		if op.barrier {
			break
		}
		blocks = append(blocks, splitBlocks(op)...)
	}
	if len(blocks) < 2 || cfg.RandomStates < 0 {
		return nil
	}
	var out []crashState
	for s := 0; s < cfg.RandomStates; s++ {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(j)<<16|uint64(s)))
		var keep []blockOp
		for _, b := range blocks {
			if rng.IntN(2) == 0 {
				keep = append(keep, b)
			}
		}
		switch {
		case len(keep) == 0:
			keep = []blockOp{blocks[rng.IntN(len(blocks))]}
		case len(keep) == len(blocks):
			drop := rng.IntN(len(keep))
			keep = append(keep[:drop:drop], keep[drop+1:]...)
		}
		out = append(out, crashState{name: fmt.Sprintf("b%d+r%d", j, s), prefix: from, extra: keep})
	}
	return out
}

// splitBlocks cuts a write at 4 KiB boundaries: a disk keeps or loses each
// block of a multi-block write on its own.
func splitBlocks(op blockOp) []blockOp {
	const bs = 4096
	var out []blockOp
	for off, end := op.off, op.off+op.size(); off < end; {
		next := min((off/bs+1)*bs, end)
		b := blockOp{off: off}
		if op.data != nil {
			b.data = op.data[off-op.off : next-op.off]
		} else {
			b.zero = next - off
		}
		out = append(out, b)
		off = next
	}
	return out
}

// pickStates applies Only and MaxStates.
func pickStates(cfg BarrierConfig, states []crashState) []crashState {
	if cfg.Only != "" {
		for _, s := range states {
			if s.name == cfg.Only {
				return []crashState{s}
			}
		}
		return nil
	}
	if cfg.MaxStates <= 0 || len(states) <= cfg.MaxStates {
		return states
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xba5e))
	idx := rng.Perm(len(states) - 1)[:cfg.MaxStates-1]
	idx = append(idx, len(states)-1)
	slices.Sort(idx)
	out := make([]crashState, len(idx))
	for i, k := range idx {
		out[i] = states[k]
	}
	return out
}

// stateOutcome is the judgement of one crash state.
type stateOutcome struct {
	state      crashState
	required   string
	err        error
	mismatches []crashtest.StateMismatch
	acked      int
	lost       int // acknowledged writes lost, not promised
	unpromised bool
	classes    []crashtest.Class
	notices    []crashtest.StateMismatch
	skipped    bool // interrupted: not judged
	phase      string
	image      string
	took       time.Duration
	fatal      error // a harness failure: stop
}

// judgeStates judges the states on cfg.Workers workers.
func judgeStates(cfg BarrierConfig, scratch string, rec *recording, states []crashState, res *BarrierResult) error {
	var workers []*stateWorker
	defer func() {
		for _, sw := range workers {
			sw.file.Close()
		}
	}()
	for w := 0; w < min(cfg.Workers, max(len(states), 1)); w++ {
		sw, err := newStateWorker(cfg, scratch, w, rec)
		if err != nil {
			return err
		}
		workers = append(workers, sw)
	}
	jobs := make(chan crashState)
	outcomes := make(chan stateOutcome)
	var wg sync.WaitGroup
	for _, sw := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				outcomes <- sw.judge(s)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		defer close(jobs)
		for _, s := range states {
			select {
			case jobs <- s:
			case <-stop:
				return
			case <-cfg.Stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(outcomes) }()
	var fatal error
	for o := range outcomes {
		if o.fatal != nil && fatal == nil {
			fatal = o.fatal
			close(stop)
		}
		res.add(cfg, o)
		if o.fatal == nil && !o.skipped && rec.touched != nil {
			rec.touched(o.state)
		}
		if cfg.Progress != nil {
			cfg.Progress(res.States, len(states))
		}
	}
	return fatal
}

func (r *BarrierResult) add(cfg BarrierConfig, o stateOutcome) {
	if o.fatal != nil {
		return
	}
	if o.skipped {
		r.Interrupted++
		return
	}
	r.States++
	r.StateTime += o.took
	r.AckedChecked += o.acked
	if o.unpromised {
		r.Unpromised++
		r.PermittedLoss += o.lost
	}
	r.Classes.Add(o.classes)
	if o.phase != "" {
		r.Coverage.Merge(&crashtest.Coverage{Phases: map[string]int{o.phase: 1}})
	}
	v := BarrierViolation{Seed: cfg.Seed, State: o.state.name, Required: o.required, Err: o.err, Mismatches: o.mismatches,
		Image: o.image, Classes: o.classes, Phase: o.phase}
	switch {
	case o.err != nil || len(o.mismatches) > 0:
		r.Violations = append(r.Violations, v)
	case len(o.notices) > 0:
		v.Mismatches = o.notices
		r.Notices = append(r.Notices, v)
	}
}

// stateWorker builds crash states in its own image file and judges them on
// its own loop device and mount point.
type stateWorker struct {
	cfg     BarrierConfig
	rec     *recording
	file    *os.File
	mnt     string
	cur     []byte // the base with rec.log[:applied] applied
	applied int
}

func newStateWorker(cfg BarrierConfig, scratch string, i int, rec *recording) (*stateWorker, error) {
	mnt := filepath.Join(scratch, fmt.Sprintf("state-%d", i))
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(mnt+".img", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &stateWorker{cfg: cfg, rec: rec, file: f, mnt: mnt, cur: slices.Clone(rec.base)}, nil
}

func (w *stateWorker) judge(s crashState) stateOutcome {
	start := time.Now()
	o := stateOutcome{state: s, required: w.rec.judge.Required(uint64(s.prefix)), phase: w.rec.judge.Phase(uint64(s.prefix))}
	if err := w.build(s); err != nil {
		o.fatal = fmt.Errorf("crashtest: building crash state %s: %w", s.name, err)
		return o
	}
	m := newExt4Mount(w.file.Name(), w.mnt, w.cfg.MountOptions)
	if err := m.up(); err != nil {
		o.err = fmt.Errorf("the crash state did not mount: %w", err)
	} else {
		v := w.rec.judge.Judge(filepath.Join(w.mnt, "db"), uint64(s.prefix))
		o.acked, o.mismatches, o.unpromised, o.err = v.Acked, v.Mismatches, v.Unpromised, v.Err
		o.classes, o.notices, o.skipped, o.lost = v.Classes, v.Notices, v.Interrupted, v.UnpromisedLost
	}
	if err := m.down(); err != nil {
		o.fatal = fmt.Errorf("crashtest: crash state %s: %w", s.name, err)
	}
	o.took = time.Since(start)
	if (o.err != nil || len(o.mismatches) > 0) && w.cfg.KeepDir != "" {
		o.image = filepath.Join(w.cfg.KeepDir, fmt.Sprintf("barriers-seed%d-%s.img", w.cfg.Seed, s.name))
		if err := w.keep(s, o.image); err != nil {
			o.image = fmt.Sprintf("(not kept: %v)", err)
		}
	}
	return o
}

// keep writes the state's image, as it was before mounting, to path.
func (w *stateWorker) keep(s crashState, path string) error {
	img := slices.Clone(w.cur)
	for _, b := range s.extra {
		applyBlock(img, b)
	}
	return os.WriteFile(path, img, 0o600)
}

// build writes the state into the worker's image file.
func (w *stateWorker) build(s crashState) error {
	if s.prefix < w.applied {
		w.cur, w.applied = slices.Clone(w.rec.base), 0
	}
	for _, op := range w.rec.log[w.applied:s.prefix] {
		applyBlock(w.cur, op)
	}
	w.applied = s.prefix
	if _, err := w.file.WriteAt(w.cur, 0); err != nil {
		return err
	}
	for _, b := range s.extra {
		data := b.data
		if data == nil {
			data = make([]byte, b.zero)
		}
		if _, err := w.file.WriteAt(data, b.off); err != nil {
			return err
		}
	}
	return nil
}

func applyBlock(img []byte, op blockOp) {
	switch {
	case op.barrier:
	case op.data != nil:
		copy(img[op.off:], op.data)
	default:
		clear(img[op.off : op.off+op.zero])
	}
}
