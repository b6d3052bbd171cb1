package lazyfs

import (
	"os"
	"path/filepath"
	"time"

	"github.com/in-mem/inmem/crashtest/proc"
	"github.com/in-mem/inmem/vfs"
)

// record runs the workload child to its end on a recording mount, its
// acknowledgements stamped by the mount's log.
func record(cfg Config, scratch string) (rec *recording, err error) {
	start := time.Now()
	mnt := filepath.Join(scratch, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	f, err := serve(newCore(vfs.NewMemFS(), "", true), mnt, Options{record: true, ackLog: true})
	if err != nil {
		return nil, err
	}
	defer func() { err = joinErr(err, f.Unmount()) }()
	acks := f.sys.(*fuseMount).root.acks
	// A workload of a few hundred operations takes well under a second; a
	// child still running after two minutes is hung, and is killed. Should
	// the acknowledgement file never be released, the watchdog ends the
	// pipe so that nothing waits forever.
	const limit = 2 * time.Minute
	watchdog := time.AfterFunc(limit+time.Minute, acks.Close)
	defer watchdog.Stop()
	judge, err := proc.Record(proc.RecordConfig{Child: cfg.Child, Dir: filepath.Join(mnt, "db"), Seed: cfg.Seed,
		Durability: cfg.Durability, Expect: cfg.Expect, Ops: cfg.Ops, Writers: cfg.Writers, SegmentSize: cfg.SegmentSize,
		Target: cfg.Target, ReopenEvery: cfg.ReopenEvery, Clock: acks.Next, Now: f.core.clock,
		AckPipe: func() (*os.File, *os.File, error) { return acks.pipe(mnt) }, Limit: limit, Stop: cfg.Stop})
	if err != nil {
		return nil, err
	}
	return &recording{ops: f.core.log.Ops(), judge: judge, took: time.Since(start)}, nil
}
