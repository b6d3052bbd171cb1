package inmem

import (
	"errors"
	"fmt"

	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/vfs"
)

// Sentinel errors. Check them with errors.Is; typed errors below add detail.
var (
	// ErrNotFound is returned when a key, cell or version does not exist.
	ErrNotFound = errors.New("inmem: not found")
	// ErrRunNotFound is returned when a run does not exist.
	ErrRunNotFound = errors.New("inmem: run not found")
	// ErrRunExists is returned by CreateRun when the name is taken.
	ErrRunExists = errors.New("inmem: run already exists")
	// ErrVersionMismatch is returned by StateCAS when the cell's version is
	// not the expected one; the error is a *VersionMismatchError.
	ErrVersionMismatch = errors.New("inmem: version mismatch")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("inmem: database is closed")
	// ErrLocked is returned by Open when another handle, in this or another
	// process, has the directory open for writing (or, for a writer, open at
	// all: read-only handles share the directory only with each other).
	ErrLocked = vfs.ErrLocked
	// ErrCorrupt is matched by every *CorruptionError: damage that is not a
	// torn tail. Nothing on disk was changed.
	ErrCorrupt = base.ErrCorrupt
	// ErrFailed is returned by every write after a write or sync of the
	// database's files failed (fail-stop). The error also wraps the original
	// failure. Reads keep working; reopen the database to recover from what
	// is really on disk.
	ErrFailed = errors.New("inmem: database failed and accepts no more writes; reopen it")
	// ErrTooLarge is returned when a commit would exceed MaxRecordSize.
	ErrTooLarge = errors.New("inmem: commit too large")
	// ErrInvalid is returned for bad arguments and options.
	ErrInvalid = errors.New("inmem: invalid argument")
	// ErrHistoryTrimmed is matched by *HistoryTrimmedError.
	ErrHistoryTrimmed = errors.New("inmem: history trimmed by retention")
	// ErrCodecMismatch is returned by Open when the database was written
	// with another codec or encryption key.
	ErrCodecMismatch = errors.New("inmem: codec mismatch")
	// ErrTxDone is returned when a Tx is used after its function returned.
	ErrTxDone = errors.New("inmem: transaction already finished")
	// ErrReadOnly is returned by every write to a database opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("inmem: database is open read-only")
	// ErrNotDatabase is returned when a directory holds no database: it does
	// not exist, holds nothing of in-mem's, or holds a database whose
	// creation was cut short before it wrote its MANIFEST (the MANIFEST is
	// written last, and no commit is made before it). Open finishes such a
	// creation when it may create a database; read-only opens, Options.
	// MustExist, Verify and Inspect return ErrNotDatabase. The error also
	// matches fs.ErrNotExist.
	ErrNotDatabase = errors.New("inmem: no database")
	// ErrIncompleteExport is returned by Import when the directory is not a
	// complete export: its EXPORT marker, or a file the marker lists, is
	// missing or short (an Export or a copy that did not finish).
	ErrIncompleteExport = errors.New("inmem: not a complete export")
)

// CorruptionError names the damaged file, the offset of the first damage
// and the reason. errors.Is(err, ErrCorrupt) is true for it.
type CorruptionError = base.CorruptionError

// VersionMismatchError is returned by StateCAS when the cell is not at the
// expected version.
type VersionMismatchError struct {
	Cell     string
	Expected Version
	Actual   Version // 0 if the cell does not exist
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("inmem: state cell %q is at version %d, not %d", e.Cell, e.Actual, e.Expected)
}

// Is makes errors.Is(err, ErrVersionMismatch) true.
func (e *VersionMismatchError) Is(target error) bool { return target == ErrVersionMismatch }

// HistoryTrimmedError is returned when a read asks for a version that
// retention removed. It never falls back to the nearest surviving version.
type HistoryTrimmedError struct {
	Key       string
	Requested Version
	Earliest  Version // the oldest version retention kept
}

func (e *HistoryTrimmedError) Error() string {
	return fmt.Sprintf("inmem: version %d of %q was removed by retention; the earliest kept is %d", e.Requested, e.Key, e.Earliest)
}

// Is makes errors.Is(err, ErrHistoryTrimmed) true.
func (e *HistoryTrimmedError) Is(target error) bool { return target == ErrHistoryTrimmed }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
