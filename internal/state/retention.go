package state

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Retention policy kinds, as stored in the system namespace. Never renumber.
const (
	KeepAll  uint8 = 0
	KeepLast uint8 = 1
	KeepFor  uint8 = 2
)

// Policy is a decoded retention policy.
type Policy struct {
	Kind uint8
	N    uint64        // KeepLast: versions kept per key (>= 1)
	D    time.Duration // KeepFor: age kept
}

// EncodePolicy returns the stored form of p: kind, uvarint n, varint ns.
func EncodePolicy(p Policy) []byte {
	b := []byte{p.Kind}
	b = binary.AppendUvarint(b, p.N)
	return binary.AppendVarint(b, int64(p.D))
}

// DecodePolicy parses a stored policy.
func DecodePolicy(b []byte) (Policy, error) {
	if len(b) < 3 {
		return Policy{}, fmt.Errorf("retention policy cut short (%d bytes)", len(b))
	}
	p := Policy{Kind: b[0]}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 {
		return Policy{}, fmt.Errorf("bad retention count")
	}
	d, j := binary.Varint(b[1+k:])
	if j <= 0 || 1+k+j != len(b) {
		return Policy{}, fmt.Errorf("bad retention duration")
	}
	p.N, p.D = n, time.Duration(d)
	switch {
	case p.Kind > KeepFor:
		return Policy{}, fmt.Errorf("unknown retention kind %d", p.Kind)
	case p.Kind == KeepLast && p.N == 0:
		return Policy{}, fmt.Errorf("KeepLast(0)")
	case p.Kind == KeepFor && p.D <= 0:
		return Policy{}, fmt.Errorf("KeepFor(%v)", p.D)
	}
	return p, nil
}

// Trim applies p to the KV history of run id: among the versions at or below
// at (newer ones are not yet published and always stay), it keeps what the
// policy says, and always the newest. now is the current time in µs. It
// returns the number of versions removed. Callers exclude concurrent
// snapshots of this run.
func (s *Store) Trim(id [16]byte, p Policy, at uint64, now int64) int {
	r, ok := s.Run(id, Latest)
	if !ok || p.Kind == KeepAll {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	removed := 0
	for _, c := range r.kv.all() {
		removed += trimChain(c, p, at, now)
	}
	return removed
}

func trimChain(c *Chain, p Policy, at uint64, now int64) int {
	visible := 0
	for visible < len(c.Entries) && c.Entries[visible].Version <= at {
		visible++
	}
	drop := 0
	switch p.Kind {
	case KeepLast:
		if uint64(visible) > p.N {
			drop = visible - int(p.N)
		}
	case KeepFor:
		cutoff := now - p.D.Microseconds()
		for drop < visible-1 && c.Entries[drop].TS < cutoff {
			drop++
		}
	}
	if drop == 0 {
		return 0
	}
	c.Entries = append(c.Entries[:0:0], c.Entries[drop:]...)
	c.Trimmed = c.Entries[0].Version
	return drop
}
