package proc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/in-mem/inmem/crashtest"
)

// The target protocol: how the testers drive a key/value store in any
// language. The tester starts the target executable and writes requests
// to its standard input, one JSON object per line; the target answers each
// on its standard output, one JSON object per line, flushed at once, and
// logs (if it must) on standard error. docs/target-protocol.md in the
// repository is the full description; in short:
//
//	{"id":1,"op":"hello"}
//	    {"id":1,"ok":true,"protocol":1,"targets":[{"name":"sqlite","about":"...","power_safe":true,
//	     "process_safe":true,"atomic_batch":true,"reopen":true,"creation_safe":false}]}
//	{"id":2,"op":"open","target":"sqlite","dir":"/mnt/db"}    {"id":2,"ok":true}
//	{"id":3,"op":"put","key":"w01/k000001","value":"<hex>"}   {"id":3,"ok":true}
//	{"id":4,"op":"delete","key":"w01/k000001"}                {"id":4,"ok":true}
//	{"id":5,"op":"batch","ops":[{"op":"put","key":"a","value":"<hex>"},{"op":"delete","key":"b"}]}
//	{"id":6,"op":"get","key":"a"}        {"id":6,"ok":true,"found":true,"value":"<hex>"}
//	{"id":7,"op":"sync"}   {"id":8,"op":"close"}   then open again, or end of input: exit
//	any failure:           {"id":N,"ok":false,"error":"what went wrong"}
//
// A reply with "ok":true to a put, delete or batch is its acknowledgement:
// the target writes it only after the engine returned. Requests for
// different keys may be outstanding together (one per writer of the
// tester); a target may answer them in any order, or serve one at a time.
// open, close and hello come only when nothing else is outstanding.

// ProtocolVersion is the version of the target protocol this package
// speaks: a target's hello reply names the version it speaks.
const ProtocolVersion = 1

// The protocol's operations.
const (
	opHello  = "hello"
	opOpen   = "open"
	opPut    = "put"
	opDelete = "delete"
	opBatch  = "batch"
	opGet    = "get"
	opSync   = "sync"
	opClose  = "close"
)

// Request is one request of the target protocol.
type Request struct {
	ID     int            `json:"id"`
	Op     string         `json:"op"`
	Target string         `json:"target,omitempty"` // open
	Dir    string         `json:"dir,omitempty"`    // open
	Key    string         `json:"key,omitempty"`    // put, delete, get
	Value  string         `json:"value,omitempty"`  // put: hex
	Ops    []BatchRequest `json:"ops,omitempty"`    // batch
}

// BatchRequest is one write of a batch request: op is put or delete.
type BatchRequest struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"` // hex
}

// Reply is one reply of the target protocol.
type Reply struct {
	ID       int          `json:"id"`
	OK       bool         `json:"ok"`
	Error    string       `json:"error,omitempty"`
	Found    bool         `json:"found,omitempty"`    // get
	Value    string       `json:"value,omitempty"`    // get: hex
	Protocol int          `json:"protocol,omitempty"` // hello
	Targets  []TargetInfo `json:"targets,omitempty"`  // hello
}

// TargetInfo is one configuration a target executable serves, as its hello
// reply declares it.
type TargetInfo struct {
	Name         string `json:"name"`
	About        string `json:"about,omitempty"`
	PowerSafe    bool   `json:"power_safe"`
	ProcessSafe  bool   `json:"process_safe"`
	AtomicBatch  bool   `json:"atomic_batch"`
	Reopen       bool   `json:"reopen"`
	CreationSafe bool   `json:"creation_safe"`
}

// Caps returns the capabilities the configuration declares.
func (t TargetInfo) Caps() crashtest.Caps {
	return crashtest.Caps{PowerSafe: t.PowerSafe, ProcessSafe: t.ProcessSafe || t.PowerSafe, AtomicBatch: t.AtomicBatch, Reopen: t.Reopen, CreationSafe: t.CreationSafe}
}

func infoOf(tc crashtest.TargetConfig) TargetInfo {
	return TargetInfo{Name: tc.Name, About: tc.About, PowerSafe: tc.Caps.PowerSafe, ProcessSafe: tc.Caps.ProcessSafe || tc.Caps.PowerSafe, AtomicBatch: tc.Caps.AtomicBatch,
		Reopen: tc.Caps.Reopen, CreationSafe: tc.Caps.CreationSafe}
}

var (
	// ErrProtocol is matched (errors.Is) by every *ProtocolError: a target
	// wrote something the target protocol does not allow.
	ErrProtocol = errors.New("crashtest/proc: target protocol violated")
	// ErrTargetDied is returned for a request whose target process ended
	// before it replied.
	ErrTargetDied = errors.New("crashtest/proc: the target process ended before it replied")
	// ErrTargetTimeout is returned for a request the target did not answer
	// within the time limit.
	ErrTargetTimeout = errors.New("crashtest/proc: the target did not reply in time")
)

// ProtocolError is a line a target wrote that the protocol does not allow.
type ProtocolError struct {
	Line   string // the line, cut to 200 bytes
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("%s: %s: %.200q", ErrProtocol, e.Reason, e.Line)
}

// Is makes a ProtocolError match ErrProtocol.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

// parseReply reads one reply line; a malformed one is a *ProtocolError.
func parseReply(line []byte) (Reply, error) {
	var r Reply
	if err := json.Unmarshal(line, &r); err != nil {
		return Reply{}, &ProtocolError{Line: string(line), Reason: "not a JSON reply (" + err.Error() + ")"}
	}
	if r.ID <= 0 {
		return Reply{}, &ProtocolError{Line: string(line), Reason: "a reply without a positive id"}
	}
	if !r.OK && r.Error == "" {
		return Reply{}, &ProtocolError{Line: string(line), Reason: `"ok":false without an "error"`}
	}
	return r, nil
}

// value decodes a reply's hex value; bad hex is a *ProtocolError.
func (r Reply) value() ([]byte, error) {
	v, err := hex.DecodeString(r.Value)
	if err != nil {
		return nil, &ProtocolError{Line: fmt.Sprintf(`{"id":%d,"value":%q}`, r.ID, r.Value), Reason: "a value that is not hex"}
	}
	return v, nil
}

// replyError is the error a failed reply carries.
type replyError struct{ msg string }

func (e *replyError) Error() string { return e.msg }

// err returns nil for a reply that succeeded, the target's error otherwise.
func (r Reply) err() error {
	if r.OK {
		return nil
	}
	return &replyError{msg: oneLineText(r.Error)}
}

func oneLineText(s string) string { return strings.ReplaceAll(s, "\n", " ") }
