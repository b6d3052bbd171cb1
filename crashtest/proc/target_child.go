package proc

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/in-mem/inmem/crashtest"
)

// TargetChildEnv is the environment variable that makes a test binary run
// TargetMain instead of its tests (see crashtargets).
const TargetChildEnv = "INMEM_CRASHTEST_TARGET_CHILD"

// TargetMain is the entry point of a target executable written in Go: with
// no argument (or "serve") it serves targets over the target protocol on
// standard input and output; "list" prints each configuration,
// "<name> safe|process-safe|unsafe <about>", for people. The crashtargets module's
// binary calls it with its engines; `inmem crash target-child` with
// InmemTargets. It returns the exit status.
func TargetMain(args []string, targets []crashtest.TargetConfig) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "list":
		for _, t := range targets {
			safety := "unsafe"
			switch {
			case t.Caps.PowerSafe:
				safety = "safe"
			case t.Caps.ProcessSafe:
				safety = "process-safe"
			}
			fmt.Printf("%s %s %s\n", t.Name, safety, t.About)
		}
		return 0
	case "serve":
		if err := ServeTarget(os.Stdin, os.Stdout, targets); err != nil {
			fmt.Fprintln(os.Stderr, "target:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "target: unknown command %q: want serve (the default) or list\n", cmd)
	return 2
}

// ServeTarget serves targets over the target protocol: requests from in,
// replies to out, until in ends. Writes and reads run concurrently, each
// in its own goroutine; hello, open and close wait for them. An engine's
// error, or its panic, is a failed reply, never the end of the server; a
// malformed request is answered with an error too.
func ServeTarget(in io.Reader, out io.Writer, targets []crashtest.TargetConfig) error {
	s := &server{targets: targets, out: out}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil || req.ID <= 0 {
			s.reply(Reply{ID: max(req.ID, 0), Error: fmt.Sprintf("malformed request %.100q", sc.Text())})
			continue
		}
		switch req.Op {
		case opPut, opDelete, opBatch, opGet, opSync:
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.reply(s.data(req)) }()
		default:
			s.wg.Wait()
			s.reply(s.control(req))
		}
	}
	s.wg.Wait()
	if s.t != nil {
		s.t.Close()
	}
	return sc.Err()
}

// server is one ServeTarget: the store open (if any), and the reply lock.
type server struct {
	targets []crashtest.TargetConfig
	t       crashtest.Target
	wg      sync.WaitGroup
	mu      sync.Mutex
	out     io.Writer
}

// reply writes one reply in one write.
func (s *server) reply(r Reply) {
	r.OK = r.Error == ""
	b, _ := json.Marshal(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Write(append(b, '\n'))
}

// control answers hello, open and close.
func (s *server) control(req Request) Reply {
	r := Reply{ID: req.ID}
	switch req.Op {
	case opHello:
		r.Protocol = ProtocolVersion
		for _, t := range s.targets {
			r.Targets = append(r.Targets, infoOf(t))
		}
	case opOpen:
		r.Error = errText(s.open(req.Target, req.Dir))
	case opClose:
		if s.t == nil {
			r.Error = "close: nothing is open"
			break
		}
		r.Error = errText(guard(s.t.Close))
		s.t = nil
	default:
		r.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	return r
}

func (s *server) open(name, dir string) error {
	if s.t != nil {
		return fmt.Errorf("open: %s is open already", name)
	}
	tc, err := lookupTarget(s.targets, name)
	if err != nil {
		return err
	}
	var t crashtest.Target
	if err := guard(func() (err error) { t, err = tc.Open(dir); return err }); err != nil {
		return err
	}
	s.t = t
	return nil
}

// data answers the requests on an open store.
func (s *server) data(req Request) Reply {
	r := Reply{ID: req.ID}
	t := s.t
	if t == nil {
		r.Error = req.Op + ": nothing is open"
		return r
	}
	err := guard(func() error {
		switch req.Op {
		case opGet:
			v, found, err := t.Get([]byte(req.Key))
			r.Found, r.Value = found, hex.EncodeToString(v)
			return err
		case opSync:
			return t.Sync()
		}
		ops, err := batchOps(req)
		if err != nil {
			return err
		}
		return apply(t, req.Op, ops)
	})
	r.Error = errText(err)
	return r
}

// apply runs one write on t.
func apply(t crashtest.Target, op string, ops []crashtest.BatchOp) error {
	switch op {
	case opPut:
		return t.Put(ops[0].Key, ops[0].Value)
	case opDelete:
		return t.Delete(ops[0].Key)
	}
	return t.Batch(ops)
}

// batchOps decodes the writes of a put, delete or batch request.
func batchOps(req Request) ([]crashtest.BatchOp, error) {
	list := req.Ops
	if req.Op != opBatch {
		list = []BatchRequest{{Op: req.Op, Key: req.Key, Value: req.Value}}
	}
	out := make([]crashtest.BatchOp, 0, len(list))
	for _, b := range list {
		v, err := hex.DecodeString(b.Value)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s %q: the value is not hex", b.Op, b.Key)
		case b.Op != opPut && b.Op != opDelete:
			return nil, fmt.Errorf("batch: unknown op %q", b.Op)
		}
		if b.Op == opPut && v == nil {
			v = []byte{}
		}
		out = append(out, crashtest.BatchOp{Delete: b.Op == opDelete, Key: []byte(b.Key), Value: v})
	}
	return out, nil
}

// guard runs fn, turning a panic (an engine tripping over a damaged file)
// into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return oneLineText(err.Error())
}

// lookupTarget finds the configuration named name.
func lookupTarget(targets []crashtest.TargetConfig, name string) (crashtest.TargetConfig, error) {
	var names []string
	for _, t := range targets {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return crashtest.TargetConfig{}, fmt.Errorf("unknown target %q (known: %s)", name, strings.Join(names, ", "))
}
