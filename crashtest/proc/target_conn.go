package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/in-mem/inmem/crashtest"
)

// targetConn is the tester's end of the target protocol: one target
// process, its requests and replies. Replies are stamped, as they arrive,
// with the tester's clock (the barrier explorer's write log), so that a
// reply's stamp is when its acknowledgement was written.
type targetConn struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	inMu   sync.Mutex
	mu     sync.Mutex
	nextID int
	wait   map[int]chan stamped
	late   map[int]bool  // requests given up on: their replies may still come
	dead   chan struct{} // closed once the replies end (the process is gone)
	exited chan struct{} // closed once the process is reaped
	status string        // how it ended, once exited is closed
	bad    []error       // malformed reply lines
	stderr bytes.Buffer
}

// stamped is a reply and the clock when it arrived.
type stamped struct {
	Reply
	at uint64
}

// startTarget starts the target executable of child. With out set (the
// recording filesystem's acks file), the process writes its replies there
// and the tester reads them from r; otherwise from a pipe of its own.
func startTarget(child crashtest.Child, out func() (r, w *os.File, err error), clock func() uint64) (*targetConn, error) {
	c := &targetConn{wait: map[int]chan stamped{}, late: map[int]bool{}, dead: make(chan struct{}), exited: make(chan struct{})}
	c.cmd = exec.Command(child.Binary, child.Args...)
	c.cmd.Env = append(os.Environ(), child.Env...)
	c.cmd.Stderr = &limitedWriter{w: &c.stderr, n: 64 << 10}
	if out == nil {
		out = os.Pipe
	}
	r, w, err := out()
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout = w
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting the target %s: %w", child.Binary, err)
	}
	w.Close() // the process holds the write end: EOF comes when it is gone
	go c.read(r, clock)
	go func() { err := c.cmd.Wait(); c.status = exitStatus(err); close(c.exited) }()
	return c, nil
}

// read delivers replies until the process's output ends.
func (c *targetConn) read(r *os.File, clock func() uint64) {
	defer close(c.dead)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var at uint64
		if clock != nil {
			at = clock()
		}
		rep, err := parseReply(sc.Bytes())
		c.mu.Lock()
		ch := c.wait[rep.ID]
		delete(c.wait, rep.ID)
		if err == nil && ch == nil && !c.late[rep.ID] {
			err = &ProtocolError{Line: sc.Text(), Reason: "a reply to no outstanding request"}
		}
		if err != nil {
			c.bad = append(c.bad, err)
		}
		c.mu.Unlock()
		if ch != nil {
			ch <- stamped{Reply: rep, at: at}
		}
	}
	if err := sc.Err(); err != nil {
		c.mu.Lock()
		c.bad = append(c.bad, &ProtocolError{Reason: "unreadable output (" + err.Error() + ")"})
		c.mu.Unlock()
	}
}

// call sends req and waits for its reply, the end of the process
// (ErrTargetDied) or ctx (ErrTargetTimeout once its deadline passed).
func (c *targetConn) call(ctx context.Context, req Request) (stamped, error) {
	ch := make(chan stamped, 1)
	c.mu.Lock()
	c.nextID++
	req.ID = c.nextID
	c.wait[req.ID] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(req)
	c.inMu.Lock()
	_, werr := c.in.Write(append(b, '\n'))
	c.inMu.Unlock()
	if werr != nil {
		c.forget(req.ID)
		return stamped{}, fmt.Errorf("%w (%s: %v)", ErrTargetDied, req.Op, werr)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.dead:
		select { // a reply may have come with the end
		case r := <-ch:
			return r, nil
		default:
		}
		return stamped{}, fmt.Errorf("%w (%s)", ErrTargetDied, req.Op)
	case <-ctx.Done():
		c.forget(req.ID)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return stamped{}, fmt.Errorf("%w (%s)", ErrTargetTimeout, req.Op)
		}
		return stamped{}, ctx.Err()
	}
}

func (c *targetConn) forget(id int) {
	c.mu.Lock()
	delete(c.wait, id)
	c.late[id] = true
	c.mu.Unlock()
}

// hello asks the process which configurations it serves and finds name.
func (c *targetConn) hello(ctx context.Context, name string) (TargetInfo, error) {
	r, err := c.call(ctx, Request{Op: opHello})
	if err != nil {
		return TargetInfo{}, fmt.Errorf("hello: %w%s", err, c.stderrText())
	}
	if r.Protocol != ProtocolVersion {
		return TargetInfo{}, &ProtocolError{Line: fmt.Sprintf("protocol %d", r.Protocol), Reason: fmt.Sprintf("want protocol %d", ProtocolVersion)}
	}
	var names []string
	for _, t := range r.Targets {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return TargetInfo{}, fmt.Errorf("%w: the target executable does not serve %q (it serves: %s)", crashtest.ErrBadSetting, name, strings.Join(names, ", "))
}

// end closes the process's input (it exits) and waits for it, killing it
// after grace.
func (c *targetConn) end(grace time.Duration) string {
	c.in.Close()
	select {
	case <-c.exited:
	case <-time.After(grace):
		c.cmd.Process.Kill()
		<-c.exited
	}
	<-c.dead
	return c.status
}

// kill signals the process and waits until it is reaped and its output
// drained.
func (c *targetConn) kill(sig os.Signal) string {
	c.cmd.Process.Signal(sig)
	<-c.exited
	c.in.Close()
	<-c.dead
	return c.status
}

// badLines returns the malformed reply lines so far.
func (c *targetConn) badLines() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.bad...)
}

// stderrText is the first line of what the process wrote on stderr, for
// errors: "" or ": <line>".
func (c *targetConn) stderrText() string {
	select {
	case <-c.exited:
	case <-time.After(100 * time.Millisecond):
		return ""
	}
	s := strings.TrimSpace(c.stderr.String())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" (stderr: %.300s)", s)
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
	n  int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
