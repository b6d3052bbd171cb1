package main

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Mode says how an engine is opened: every put durable before it returns,
// or buffered (no per-put sync).
type Mode int

const (
	Durable Mode = iota
	Buffered
)

func (m Mode) String() string {
	if m == Durable {
		return "durable"
	}
	return "buffered"
}

// OpenOptions configure one open of an engine.
type OpenOptions struct {
	Mode Mode
	// Writers is how many goroutines will call Put at once. Engines with a
	// batching API for concurrent writers (bbolt's Batch) use it.
	Writers int
}

// Store is one open database. Put and Get are safe for concurrent use.
type Store interface {
	// Put stores value under key as one transaction. key and value may be
	// reused by the caller once Put returns.
	Put(key, value []byte) error
	// Get appends key's value to dst.
	Get(key, dst []byte) ([]byte, error)
	Close() error
}

// Checkpointer is a Store that can write a consistent copy or snapshot of
// itself. dst is a path the engine may create (file or directory).
type Checkpointer interface {
	Checkpoint(dst string) error
}

// Engine is one engine under test.
type Engine struct {
	Name string
	// Peer is true for the peer engines, false for in-mem and the raw
	// baselines: "best peer" ratios pick among peers only.
	Peer bool
	// DurableMode, BufferedMode and CheckpointOp say what each mode and the
	// checkpoint workload use, for the report's legend.
	DurableMode, BufferedMode, CheckpointOp string
	// Only, if set, limits the engine to these workloads.
	Only []string
	Open func(dir string, o OpenOptions) (Store, error)
}

func (e *Engine) supports(w string) bool {
	if len(e.Only) == 0 {
		return true
	}
	for _, o := range e.Only {
		if o == w {
			return true
		}
	}
	return false
}

// engines lists every engine in report order.
var engines = []*Engine{inmemEngine, bboltEngine, pebbleEngine, badgerEngine, sqliteEngine, rawEngine, rawGroupEngine, rawOverwriteEngine}

func engineNames() []string {
	var ns []string
	for _, e := range engines {
		ns = append(ns, e.Name)
	}
	return ns
}

func selectEngines(list string) ([]*Engine, error) {
	if list == "" || list == "all" {
		return engines, nil
	}
	var out []*Engine
	for _, n := range strings.Split(list, ",") {
		e := findEngine(strings.TrimSpace(n))
		if e == nil {
			return nil, fmt.Errorf("unknown engine %q (have %s)", n, strings.Join(engineNames(), ", "))
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return engineIndex(out[i]) < engineIndex(out[j]) })
	return out, nil
}

func findEngine(name string) *Engine {
	for _, e := range engines {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func engineIndex(e *Engine) int {
	for i, x := range engines {
		if x == e {
			return i
		}
	}
	return len(engines)
}

// Key and value sizes of every workload.
const (
	keySize   = 16
	valueSize = 100
)

// mix is splitmix64: a bijection, so distinct i give distinct keys.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

const hexDigits = "0123456789abcdef"

// key writes the 16-byte key of op i of stream s into dst: 16 hex digits of
// a hash, so inserts land in random order for every engine.
func key(dst []byte, s, i uint64) []byte {
	h := mix(s<<40 ^ i)
	dst = dst[:keySize]
	for j := keySize - 1; j >= 0; j-- {
		dst[j] = hexDigits[h&15]
		h >>= 4
	}
	return dst
}

// value writes the 100-byte value of op i of stream s into dst:
// pseudo-random bytes, so compressing engines gain nothing.
func value(dst []byte, s, i uint64) []byte {
	dst = dst[:valueSize]
	x := valueSeed(s, i)
	for j := 0; j < valueSize; j += 8 {
		x = mix(x)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], x)
		copy(dst[j:], b[:])
	}
	return dst
}

func valueSeed(s, i uint64) uint64 { return mix(s<<40 ^ i ^ 0x5bd1e995) }

// valueHead is the first 8 bytes (little endian) of value(_, s, i): a cheap
// check for the point-read loop.
func valueHead(s, i uint64) uint64 { return mix(valueSeed(s, i)) }
