package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/in-mem/inmem"
)

// The acknowledgement pipe: a workload child (ChildMain, TargetMain) tells
// the tester what it did on file descriptor 3, one line per event:
//
//	R <version>             opened; the recovered last version
//	I <writer> <op> <ver>   the op's transaction will commit as <ver> if it
//	                        commits: an announcement, not an acknowledgement
//	A <writer> <op> <ver> [<seq>,...]
//	                        the op was acknowledged (ver 0 for maintenance)
//	F <writer> <op>         the op failed before committing (a CAS mismatch,
//	                        a delete of a missing key): nothing was written
//	E <writer> <op> <msg>   the op failed with an unexpected error: its
//	                        outcome is unknown; the writer stops
//	K <point>               a whitebox crash point fired; SIGKILL follows
//	L closing <version>     a clean close begins (the lifecycle phase
//	                        close): nothing is promised by it yet
//	L close <version>       the database was closed cleanly at <version>
//	                        (a lifecycle cycle, see Lifecycle): a durability
//	                        point, every version up to it is synced
//	L open <version>        and opened again: <version> must be the same
//
// An A line is written only after the database returned: nothing is
// reported as acknowledged before it is. Each line is one write(2) of at
// most PIPE_BUF bytes, so concurrent writers never interleave.

// ackWriter writes acknowledgement lines, one write each.
type ackWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *ackWriter) line(format string, args ...any) {
	s := fmt.Sprintf(format, args...) + "\n"
	a.mu.Lock()
	a.w.Write([]byte(s))
	a.mu.Unlock()
}

// ackLine is one parsed acknowledgement line.
type ackLine struct {
	kind    byte
	writer  int
	op      int
	version inmem.Version
	seqs    []uint64
	text    string
}

func parseAck(s string) (ackLine, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f[0]) != 1 {
		return ackLine{}, fmt.Errorf("bad acknowledgement line %q", s)
	}
	l := ackLine{kind: f[0][0]}
	num := func(i int) uint64 {
		if i >= len(f) {
			return 0
		}
		n, _ := strconv.ParseUint(f[i], 10, 64)
		return n
	}
	switch l.kind {
	case 'R':
		l.version = inmem.Version(num(1))
	case 'K':
		if len(f) > 1 {
			l.text = f[1]
		}
	case 'L':
		if len(f) != 3 || (f[1] != "closing" && f[1] != "close" && f[1] != "open") {
			return ackLine{}, fmt.Errorf("bad lifecycle line %q", s)
		}
		l.text, l.version = f[1], inmem.Version(num(2))
	case 'I', 'A', 'F', 'E':
		if len(f) < 3 {
			return ackLine{}, fmt.Errorf("bad acknowledgement line %q", s)
		}
		l.writer, l.op, l.version = int(num(1)), int(num(2)), inmem.Version(num(3))
		if l.kind == 'A' && len(f) > 4 {
			for _, x := range strings.Split(f[4], ",") {
				n, err := strconv.ParseUint(x, 10, 64)
				if err != nil {
					return ackLine{}, fmt.Errorf("bad sequence in %q", s)
				}
				l.seqs = append(l.seqs, n)
			}
		}
		if l.kind == 'E' {
			l.version, l.text = 0, strings.Join(f[3:], " ")
		}
	default:
		return ackLine{}, fmt.Errorf("unknown acknowledgement line %q", s)
	}
	return l, nil
}

// readAcks parses lines from r until EOF.
func readAcks(r io.Reader, out chan<- ackLine, errs chan<- error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l, err := parseAck(sc.Text())
		if err != nil {
			errs <- err
			continue
		}
		out <- l
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		errs <- err
	}
	close(out)
}
