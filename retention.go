package inmem

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/in-mem/inmem/internal/state"
)

// RetentionPolicy says which old versions of a run's KV keys CompactFull
// removes. The newest version of every key is always kept; event logs and
// state cells are not affected. Policies are stored as versioned data in a
// system namespace user keys cannot reach, so they survive reopen and travel
// with snapshots and exports.
type RetentionPolicy struct {
	p state.Policy
}

// KeepAll keeps every version: the default.
func KeepAll() RetentionPolicy { return RetentionPolicy{state.Policy{Kind: state.KeepAll}} }

// KeepLast keeps the n newest versions of every key (n >= 1).
func KeepLast(n int) RetentionPolicy {
	return RetentionPolicy{state.Policy{Kind: state.KeepLast, N: uint64(max(n, 0))}}
}

// KeepFor keeps the versions committed within d before the compaction, and
// the newest version of every key however old (d > 0).
func KeepFor(d time.Duration) RetentionPolicy {
	return RetentionPolicy{state.Policy{Kind: state.KeepFor, D: d}}
}

func (p RetentionPolicy) validate() error {
	switch {
	case p.p.Kind == state.KeepLast && p.p.N == 0:
		return invalidf("KeepLast needs n >= 1")
	case p.p.Kind == state.KeepFor && p.p.D <= 0:
		return invalidf("KeepFor needs a positive duration")
	}
	return nil
}

// String describes the policy: "keep-all", "keep-last(3)", "keep-for(1h0m0s)".
func (p RetentionPolicy) String() string {
	switch p.p.Kind {
	case state.KeepLast:
		return fmt.Sprintf("keep-last(%d)", p.p.N)
	case state.KeepFor:
		return fmt.Sprintf("keep-for(%s)", p.p.D)
	}
	return "keep-all"
}

// ParseRetentionPolicy parses "all", "last:N" or "for:DURATION". The whole
// string must match: "last:3x" is refused, not read as "last:3".
func ParseRetentionPolicy(s string) (RetentionPolicy, error) {
	if s == "all" || s == "keep-all" {
		return KeepAll(), nil
	}
	if rest, ok := strings.CutPrefix(s, "last:"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil {
			return RetentionPolicy{}, invalidf("retention %q: %v", s, err)
		}
		p := KeepLast(n)
		return p, p.validate()
	}
	if rest, ok := strings.CutPrefix(s, "for:"); ok {
		dur, err := time.ParseDuration(rest)
		if err != nil {
			return RetentionPolicy{}, invalidf("retention %q: %v", s, err)
		}
		p := KeepFor(dur)
		return p, p.validate()
	}
	return RetentionPolicy{}, invalidf("retention %q: want all, last:N or for:DURATION", s)
}

// GetRetentionPolicy returns the run's retention policy (KeepAll if none was
// set).
func (db *DB) GetRetentionPolicy(run RunID) (RetentionPolicy, error) {
	_, at, err := db.readRun(run)
	if err != nil {
		return RetentionPolicy{}, err
	}
	e, ok := db.store.Retention(run, at)
	if !ok {
		return KeepAll(), nil
	}
	p, err := state.DecodePolicy(e.Value)
	if err != nil {
		return RetentionPolicy{}, fmt.Errorf("inmem: stored retention policy of %s: %w", run, err)
	}
	return RetentionPolicy{p}, nil
}
