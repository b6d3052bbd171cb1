// Package base holds the few definitions every in-mem layer shares: the
// corruption error that formats raise and the public API re-exports.
package base

import (
	"errors"
	"fmt"
)

// ErrCorrupt is matched (errors.Is) by every *CorruptionError.
var ErrCorrupt = errors.New("inmem: corruption")

// CorruptionError says which file is damaged, where, and why. It matches
// ErrCorrupt under errors.Is.
type CorruptionError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset of the first damage, -1 if not known
	Reason string
	Err    error // an underlying error, if any
}

func (e *CorruptionError) Error() string {
	msg := fmt.Sprintf("inmem: corruption in %s", e.File)
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at offset %d", e.Offset)
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying error.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Corruptf builds a *CorruptionError.
func Corruptf(file string, off int64, format string, args ...any) *CorruptionError {
	return &CorruptionError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// ErrSyncFailed marks a failed fsync. After one, the content of the file is
// unknown: the engine must stop writing (fail-stop), never retry as if
// nothing happened.
var ErrSyncFailed = errors.New("inmem: fsync failed")

// SyncFailed wraps a sync error so that errors.Is(err, ErrSyncFailed).
func SyncFailed(err error) error {
	if err == nil || errors.Is(err, ErrSyncFailed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrSyncFailed, err)
}
