package lazyfs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/in-mem/inmem/vfs"
)

// The control protocol, on a unix socket (docs/lazyfs.md): one command a
// line, one JSON object a line in reply, always with "ok"; a failed
// command's reply has "error" instead of its result.
//
//	crash [POLICY]   crash (default drop): {"ok":true,"report":{...}}
//	report           what is unsynced now: {"ok":true,"report":{...}}
//	clear            write the cache through: {"ok":true}
//	stats            {"ok":true,"stats":{...}}
//	help             {"ok":true,"commands":[...]}

// maxLine bounds a command line: a longer one is refused and the
// connection closed.
const maxLine = 4096

// commands is the reply to help.
var commands = []string{
	"crash [drop|keep|random:SEED|pages:SEED|reorder:SEED]: lose what was not synced (default drop), reply with the report",
	"report: what a crash now could lose",
	"clear: write everything through (sync every file and directory)",
	"stats: counts of the mount",
	"help: this list",
}

// controlled is what the protocol drives: an FS.
type controlled interface {
	Crash(vfs.CrashPolicy) (Report, error)
	Unsynced() Report
	Clear() error
	Stats() Stats
}

// reply is one line of the protocol's answers.
type reply struct {
	OK       bool     `json:"ok"`
	Error    string   `json:"error,omitempty"`
	Report   *Report  `json:"report,omitempty"`
	Stats    *Stats   `json:"stats,omitempty"`
	Commands []string `json:"commands,omitempty"`
}

// listenControl listens on a unix socket at path; a stale socket there (a
// previous mount's) is replaced, anything else refused.
func listenControl(path string) (net.Listener, error) {
	if info, err := os.Lstat(path); err == nil {
		if info.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("lazyfs: the control socket %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("lazyfs: the control socket %s is in use", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: the control socket: %w", err)
	}
	return l, nil
}

// serveControl answers connections until l is closed.
func serveControl(l net.Listener, t controlled) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go serveConn(conn, t)
	}
}

func serveConn(conn net.Conn, t controlled) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 256), maxLine)
	enc := json.NewEncoder(conn)
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := enc.Encode(answer(t, line)); err != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		enc.Encode(reply{Error: fmt.Sprintf("a command line is at most %d bytes", maxLine)})
	}
}

// answer runs one command line.
func answer(t controlled, line string) reply {
	words := strings.Fields(line)
	bad := func(format string, args ...any) reply { return reply{Error: fmt.Sprintf(format, args...)} }
	switch cmd, args := words[0], words[1:]; {
	case cmd == "crash" && len(args) <= 1:
		p := vfs.CrashPolicy{Mode: vfs.DropUnsynced}
		if len(args) == 1 {
			var err error
			if p, err = ParsePolicy(args[0]); err != nil {
				return bad("%v", err)
			}
		}
		r, err := t.Crash(p)
		if err != nil {
			return bad("%v", err)
		}
		return reply{OK: true, Report: &r}
	case cmd == "report" && len(args) == 0:
		r := t.Unsynced()
		return reply{OK: true, Report: &r}
	case cmd == "clear" && len(args) == 0:
		if err := t.Clear(); err != nil {
			return bad("%v", err)
		}
		return reply{OK: true}
	case cmd == "stats" && len(args) == 0:
		s := t.Stats()
		return reply{OK: true, Stats: &s}
	case cmd == "help" && len(args) == 0:
		return reply{OK: true, Commands: commands}
	}
	return bad("bad command %q: want crash [POLICY], report, clear, stats or help", line)
}
