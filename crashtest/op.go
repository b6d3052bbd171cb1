package crashtest

import (
	"fmt"
	"strings"

	"github.com/in-mem/inmem"
)

// WriteKind is one kind of write.
type WriteKind uint8

// The writes a scenario can make.
const (
	WriteKVPut WriteKind = iota + 1
	WriteKVDelete
	WriteEventAppend
	WriteStateSet
	WriteStateCAS
	// WriteRetention sets a run's retention policy: KeepLast(Keep), or
	// KeepAll if Keep is 0.
	WriteRetention
	// WriteCreateRun creates a run, which must not exist: the only write
	// that leaves a run empty.
	WriteCreateRun
)

func (k WriteKind) String() string {
	switch k {
	case WriteKVPut:
		return "kv-put"
	case WriteKVDelete:
		return "kv-delete"
	case WriteEventAppend:
		return "event-append"
	case WriteStateSet:
		return "state-set"
	case WriteStateCAS:
		return "state-cas"
	case WriteRetention:
		return "retention"
	case WriteCreateRun:
		return "create-run"
	}
	return fmt.Sprintf("WriteKind(%d)", uint8(k))
}

// Write is one write of an operation. Runs are named; an operation creates
// the runs it names if they do not exist, in the same transaction.
type Write struct {
	Kind  WriteKind
	Run   string
	Key   string // KV key or state cell
	Value []byte // value or event payload
	// Expected is the version a StateCAS expects (0: the cell must not
	// exist). With ExpectCurrent the runner fills it from the model.
	Expected      inmem.Version
	ExpectCurrent bool
	// Keep is a retention write's policy: KeepLast(Keep), or KeepAll if 0.
	Keep int
}

// Put, Delete, Append, Set and CAS build Writes for ScenarioRunner.Update.
func Put(run, key string, value []byte) Write {
	return Write{Kind: WriteKVPut, Run: run, Key: key, Value: value}
}

// Delete deletes a key.
func Delete(run, key string) Write { return Write{Kind: WriteKVDelete, Run: run, Key: key} }

// Append appends an event.
func Append(run string, payload []byte) Write {
	return Write{Kind: WriteEventAppend, Run: run, Value: payload}
}

// Set sets a state cell.
func Set(run, cell string, value []byte) Write {
	return Write{Kind: WriteStateSet, Run: run, Key: cell, Value: value}
}

// CAS sets a state cell if it is at version expected.
func CAS(run, cell string, expected inmem.Version, value []byte) Write {
	return Write{Kind: WriteStateCAS, Run: run, Key: cell, Value: value, Expected: expected}
}

// CASCurrent sets a state cell if it is still at the version the model says
// it has: a CAS that must succeed.
func CASCurrent(run, cell string, value []byte) Write {
	return Write{Kind: WriteStateCAS, Run: run, Key: cell, Value: value, ExpectCurrent: true}
}

// Retain sets a run's retention policy: KeepLast(keepLast), or KeepAll if
// keepLast is 0. CompactFull then may trim the older versions of its keys.
func Retain(run string, keepLast int) Write {
	return Write{Kind: WriteRetention, Run: run, Keep: keepLast}
}

// CreateRun creates an empty run; the operation fails with
// inmem.ErrRunExists if the run exists.
func CreateRun(run string) Write { return Write{Kind: WriteCreateRun, Run: run} }

// policy is the retention policy of a WriteRetention.
func (w Write) policy() inmem.RetentionPolicy {
	if w.Keep > 0 {
		return inmem.KeepLast(w.Keep)
	}
	return inmem.KeepAll()
}

func (w Write) String() string {
	switch w.Kind {
	case WriteCreateRun:
		return fmt.Sprintf("%s %s", w.Kind, w.Run)
	case WriteRetention:
		return fmt.Sprintf("%s %s %s", w.Kind, w.Run, w.policy())
	case WriteKVDelete:
		return fmt.Sprintf("%s %s/%s", w.Kind, w.Run, w.Key)
	case WriteEventAppend:
		return fmt.Sprintf("%s %s %s", w.Kind, w.Run, short(w.Value))
	case WriteStateCAS:
		return fmt.Sprintf("%s %s/%s expect v%d %s", w.Kind, w.Run, w.Key, w.Expected, short(w.Value))
	}
	return fmt.Sprintf("%s %s/%s %s", w.Kind, w.Run, w.Key, short(w.Value))
}

// OpKind is what an operation of the history does.
type OpKind uint8

// Operation kinds. OpWrite is a transaction of one or more writes.
const (
	OpWrite OpKind = iota + 1
	OpCheckpoint
	OpCompact
	OpFlush
	// OpClose closes the database cleanly; OpReopen closes it and opens
	// it again. Everything acknowledged before Close returned survives any
	// later crash.
	OpClose
	OpReopen
)

func (k OpKind) String() string {
	switch k {
	case OpWrite:
		return "write"
	case OpCheckpoint:
		return "checkpoint"
	case OpCompact:
		return "compact"
	case OpFlush:
		return "flush"
	case OpClose:
		return "close"
	case OpReopen:
		return "reopen"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// OpStatus is what became of an operation.
type OpStatus uint8

const (
	// Issued: started, no outcome yet. After a crash an issued operation
	// was in flight: it may be entirely present or entirely absent.
	Issued OpStatus = iota
	// Acked: the database acknowledged it. Its durability is promised as
	// the mode says.
	Acked
	// Failed: the database returned an error before committing anything
	// (a CAS mismatch, a delete of a missing key): it must be absent.
	Failed
)

func (s OpStatus) String() string {
	switch s {
	case Issued:
		return "in-flight"
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("OpStatus(%d)", uint8(s))
}

// Op is one operation of the history the reference model keeps.
type Op struct {
	Index  int // position in the history
	Writer int // the writer that issued it, for concurrent workloads
	Kind   OpKind
	Writes []Write
	Mode   inmem.CompactMode // OpCompact

	Status OpStatus
	// Version is the commit version: known from the transaction itself
	// before the commit (an intent) and confirmed by the acknowledgement.
	// 0 for operations that write nothing.
	Version inmem.Version
	Seqs    []uint64 // event sequence numbers the acknowledgement returned
	Err     string   // the error of a failed operation

	// Clock stamps (see ReferenceModel.SetClock): when the operation was
	// issued, when its version became known, when its outcome was recorded.
	issuedAt, intentAt, doneAt uint64
	announced                  inmem.Version // the version of the intent, kept if it fails
	err                        error         // what the operation returned, if it failed

	// runIDs are the ids the commit gave the runs its writes name, when the
	// runner saw them: a recovered run must keep its id.
	runIDs map[string]inmem.RunID
	// placed: a full compaction the runner saw complete when the
	// acknowledged history ended at version after, so the model trims there
	// exactly what it trimmed.
	placed bool
	after  inmem.Version
}

// Cause returns the error the operation returned, if it failed or its
// outcome is unknown (nil otherwise).
func (o *Op) Cause() error { return o.err }

func (o *Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d", o.Index)
	if o.Writer != 0 {
		fmt.Fprintf(&b, " w%d", o.Writer)
	}
	if o.Kind != OpWrite {
		fmt.Fprintf(&b, " %s", o.Kind)
		if o.Kind == OpCompact {
			fmt.Fprintf(&b, "(%s)", o.Mode)
		}
	}
	for i, w := range o.Writes {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" " + w.String())
	}
	fmt.Fprintf(&b, " [%s", o.Status)
	if o.Version != 0 {
		fmt.Fprintf(&b, " v%d", o.Version)
	}
	if o.Err != "" {
		fmt.Fprintf(&b, " %s", o.Err)
	}
	b.WriteString("]")
	return b.String()
}

// UniqueValue returns a value that names its run, key and operation, padded
// to size bytes, so that a recovered value shows which operation wrote it.
func UniqueValue(run, key string, op int, size int) []byte {
	v := fmt.Sprintf("%s/%s/op%d;", run, key, op)
	return []byte(v + strings.Repeat(".", max(size-len(v), 0)))
}

func short(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%q…(%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}
