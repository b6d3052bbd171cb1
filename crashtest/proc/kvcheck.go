package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// The checker: a new target process opens the store a crash left, reads
// every key the model knows (and keys nobody wrote), writes and reads a
// probe, and closes, all within the workload's CheckTimeout. A recovery
// that does not finish in time is a hang; a campaign that stops meanwhile
// leaves the state unjudged (interrupted), never a violation.

// probeKey is the key the checker writes after recovery.
const probeKey = "crashtest-probe"

// checkStore runs the checker on the store in dir.
func checkStore(ctx context.Context, child crashtest.Child, w TargetWorkload, dir string, keys []string) *checkResult {
	start := time.Now()
	c := newCheckResult()
	lctx, cancel := context.WithTimeout(ctx, w.checkTimeout())
	defer cancel()
	conn, err := startTarget(child, nil, nil)
	if err != nil {
		c.openErr = err.Error()
		return c
	}
	defer func() {
		conn.kill(os.Kill)
		c.bad = append(c.bad, conn.badLines()...)
		c.duration = time.Since(start)
	}()
	step := func(what string, err error) bool {
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			c.interrupted = true
		case errors.Is(err, ErrTargetTimeout):
			c.hung = fmt.Sprintf("%s did not finish within %s", what, w.checkTimeout())
		case c.openErr == "" && what == "open":
			c.openErr = fmt.Sprintf("%v%s", err, conn.stderrText())
		}
		return false
	}
	if _, err := conn.hello(lctx, w.Name); !step("hello", err) {
		if c.openErr == "" && !c.interrupted && c.hung == "" {
			c.openErr = err.Error()
		}
		return c
	}
	if !step("open", replyErr(conn.call(lctx, Request{Op: opOpen, Target: w.Name, Dir: dir}))) {
		return c
	}
	if !c.read(lctx, conn, keys, step) {
		return c
	}
	perr := probeTarget(lctx, conn)
	c.probe = okText(perr)
	if perr != nil && (errors.Is(perr, ErrTargetTimeout) || errors.Is(perr, ErrTargetDied) || ctx.Err() != nil) {
		step("the probe", perr)
		return c
	}
	c.closeErr = okText(replyErr(conn.call(lctx, Request{Op: opClose})))
	return c
}

// read reads every key; false if the checker must stop.
func (c *checkResult) read(ctx context.Context, conn *targetConn, keys []string, step func(string, error) bool) bool {
	for _, k := range keys {
		rep, err := conn.call(ctx, Request{Op: opGet, Key: k})
		if errors.Is(err, ErrTargetDied) {
			c.getErrs[k] = fmt.Sprintf("%v%s", err, conn.stderrText())
			return false
		}
		if err != nil {
			return step("get "+k, err)
		}
		switch v, verr := rep.value(); {
		case !rep.OK:
			c.getErrs[k] = rep.Error
		case verr != nil:
			c.bad = append(c.bad, verr)
		case rep.Found:
			c.values[k] = v
		}
	}
	return true
}

// replyErr turns a call's outcome into one error: the call's, or the
// target's.
func replyErr(rep stamped, err error) error {
	if err != nil {
		return err
	}
	return rep.err()
}

// probeTarget writes a key after recovery and reads it back.
func probeTarget(ctx context.Context, conn *targetConn) error {
	val := []byte("written after recovery")
	if err := replyErr(conn.call(ctx, request(&kvOp{kind: opPut, writes: []*kvWrite{{key: &kvKey{name: probeKey}, value: val}}}))); err != nil {
		return err
	}
	rep, err := conn.call(ctx, Request{Op: opGet, Key: probeKey})
	if err = replyErr(rep, err); err != nil {
		return err
	}
	got, err := rep.value()
	if err != nil {
		return err
	}
	if !rep.Found || string(got) != string(val) {
		return fmt.Errorf("the probe read back %q (found %v)", got, rep.Found)
	}
	return nil
}

func okText(err error) string {
	if err != nil {
		return oneLineText(err.Error())
	}
	return "ok"
}

// stopContext returns a context cancelled once stop is closed (nil: never).
func stopContext(stop <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if stop == nil {
		return ctx, cancel
	}
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
