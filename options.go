package inmem

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// Durability says when a commit returns and what survives a crash.
type Durability uint8

const (
	// Strict returns after the commit's WAL record is synced; concurrent
	// commits share one sync (group commit). Every acknowledged commit
	// survives a process crash and a power loss.
	Strict Durability = iota
	// Buffered returns after the record is written to the OS; the log is
	// synced every SyncInterval and on Flush, Checkpoint and Close. Every
	// acknowledged commit survives a process crash; after a power loss a
	// prefix survives that holds every commit acknowledged before the last
	// completed sync.
	Buffered
	// InMemory keeps everything in memory and writes nothing.
	InMemory
)

func (d Durability) String() string {
	switch d {
	case Strict:
		return "strict"
	case Buffered:
		return "buffered"
	case InMemory:
		return "inmemory"
	}
	return fmt.Sprintf("Durability(%d)", uint8(d))
}

// ParseDurability parses the names String returns.
func ParseDurability(s string) (Durability, error) {
	for _, d := range []Durability{Strict, Buffered, InMemory} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, invalidf("unknown durability %q (want strict, buffered or inmemory)", s)
}

// RecoveryMode says what Open does with damage that is not a torn tail.
type RecoveryMode uint8

const (
	// RecoverStrict refuses to open a damaged database with a
	// *CorruptionError and changes nothing on disk.
	RecoverStrict RecoveryMode = iota
	// RecoverPointInTime opens the valid prefix of the log, up to the first
	// damage. Every file it changes or drops is first moved into
	// DIR/lost+found with a note saying why; DB.Recovery reports it.
	RecoverPointInTime
)

// Preparation says how the log writes a segment ahead of its records, so
// that a commit overwrites blocks the file already has and its sync has no
// size change to journal.
type Preparation uint8

const (
	// PrepareBackground writes each segment ahead with zeros on a goroutine
	// of its own, a chunk at a time, off the commit path. The default.
	PrepareBackground Preparation = iota
	// PrepareInline writes the same zeros on the committer that comes near
	// the prepared end: that commit waits for them, and the file operations
	// come in an order the workload alone decides. Crash tests that rebuild
	// a crash state from its operation number use it.
	PrepareInline
	// PrepareNone writes nothing ahead: records are appended to a growing
	// file.
	PrepareNone
)

func (p Preparation) String() string {
	switch p {
	case PrepareBackground:
		return "background"
	case PrepareInline:
		return "inline"
	case PrepareNone:
		return "none"
	}
	return fmt.Sprintf("Preparation(%d)", uint8(p))
}

// ParsePreparation parses the names String returns.
func ParsePreparation(s string) (Preparation, error) {
	for _, p := range []Preparation{PrepareBackground, PrepareInline, PrepareNone} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, invalidf("unknown preparation %q (want background, inline or none)", s)
}

// Defaults.
const (
	DefaultSegmentSize   = 64 << 20
	DefaultSyncInterval  = 100 * time.Millisecond
	DefaultMaxRecordSize = 16 << 20
)

// Options configure Open. A nil *Options or a zero field means the default.
// Open copies the struct; changing it afterwards has no effect.
type Options struct {
	// Durability defaults to Strict.
	Durability Durability
	// SegmentSize is the size, in bytes, at which the log moves to a new
	// segment file. Default 64 MiB.
	SegmentSize int64
	// SyncInterval is how often Buffered mode syncs the log. Default 100 ms.
	SyncInterval time.Duration
	// Preparation defaults to PrepareBackground.
	Preparation Preparation
	// MaxRecordSize is the largest WAL record, in bytes, framing included:
	// it bounds the size of one commit, and any length field above it on
	// disk is corruption. Default 16 MiB, or less if the segment is smaller.
	// Keep it the same across opens.
	MaxRecordSize int
	// Recovery defaults to RecoverStrict.
	Recovery RecoveryMode
	// ReadOnly opens an existing database for reading only, on read-only
	// media too. Open then writes nothing: it creates no LOCK file (it takes
	// a shared lock on an existing one, so read-only handles share the
	// directory while a writer is kept out), cuts no torn tail (Recovery
	// reports it; it stays on disk), syncs nothing and updates no MANIFEST;
	// recovery happens in memory. Every write, Flush, Checkpoint, Compact
	// and Export returns ErrReadOnly. A directory holding no database gives
	// ErrNotDatabase. Not with InMemory or RecoverPointInTime.
	ReadOnly bool
	// MustExist makes Open fail with ErrNotDatabase, changing nothing on
	// disk, where it would create a database (or finish a creation cut
	// short).
	MustExist bool
	// Codec transforms every persisted byte of records and snapshots.
	// Default: identity. Opening with another codec than the database was
	// created with fails with ErrCodecMismatch.
	Codec Codec
	// EncryptionKey, if set, must be 32 bytes: the database is encrypted at
	// rest with AES-256-GCM. Do not set both Codec and EncryptionKey.
	EncryptionKey []byte
	// FS is the filesystem. Default vfs.OS. It is the seam crash tests use.
	FS vfs.FS
	// CrashPoints, if set, is hit at every crash point of the engine. Only
	// crash tests set it.
	CrashPoints *crashpoint.Set
	// Logger receives recovery and failure reports. Default: silent.
	Logger *slog.Logger
}

func (o *Options) ensureDefaults() error {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = int(min(DefaultMaxRecordSize, o.SegmentSize-wal.HeaderSize))
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Codec == nil && o.EncryptionKey != nil {
		c, err := NewAESGCMCodec(o.EncryptionKey)
		if err != nil {
			return err
		}
		o.Codec = c
	} else if o.Codec == nil {
		o.Codec = IdentityCodec()
	}
	return nil
}

func (o *Options) validate() error {
	switch {
	case o.Durability > InMemory:
		return invalidf("unknown durability %d", o.Durability)
	case o.Recovery > RecoverPointInTime:
		return invalidf("unknown recovery mode %d", o.Recovery)
	case o.Preparation > PrepareNone:
		return invalidf("unknown preparation %d", o.Preparation)
	case o.ReadOnly && o.Durability == InMemory:
		return invalidf("ReadOnly needs a database directory, not InMemory")
	case o.ReadOnly && o.Recovery == RecoverPointInTime:
		return invalidf("ReadOnly cannot recover point-in-time: that changes files")
	case o.SegmentSize < 4096:
		return invalidf("SegmentSize %d is below 4096 bytes", o.SegmentSize)
	case o.SyncInterval < 0:
		return invalidf("negative SyncInterval")
	case o.MaxRecordSize < wal.RecordOverhead+64:
		return invalidf("MaxRecordSize %d is too small", o.MaxRecordSize)
	case int64(o.MaxRecordSize) > o.SegmentSize-wal.HeaderSize:
		return invalidf("MaxRecordSize %d does not fit a %d-byte segment", o.MaxRecordSize, o.SegmentSize)
	case o.MaxRecordSize > 1<<30:
		return invalidf("MaxRecordSize %d is above 1 GiB", o.MaxRecordSize)
	case len(o.Codec.ID()) == 0 || len(o.Codec.ID()) > 255:
		return invalidf("codec id %q must have 1 to 255 bytes", o.Codec.ID())
	}
	return nil
}

func (o *Options) prepare() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if o != nil && o.Codec != nil && o.EncryptionKey != nil {
		return c, invalidf("set Codec or EncryptionKey, not both")
	}
	if err := c.ensureDefaults(); err != nil {
		return c, err
	}
	return c, c.validate()
}
