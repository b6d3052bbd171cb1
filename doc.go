// Package inmem is in-mem: an embedded durable database for Go whose crash
// consistency is proven by its own crash-testing harness (package
// crashtest).
//
// State lives in memory and is served from memory; a segmented, checksummed
// write-ahead log plus snapshots make every acknowledged commit survive a
// crash as its durability mode promises.
//
// # Data model
//
// Data is grouped into runs: named namespaces with a 16-byte RunID. Each run
// holds three primitives:
//
//   - versioned KV: every put and delete gets the commit's version; the
//     history stays readable (KVGetAt, KVHistory) until retention trims it;
//   - an append-only event log numbered 0, 1, 2, ... with no gaps;
//   - state cells with compare-and-swap on the cell's version.
//
// Reads return copies, except inside View: there a read returns the value
// borrowed, the database's own bytes, valid until the function given to
// View returns and never to be changed; it costs no allocation.
//
// A transaction (Update, Commit) groups writes across primitives and runs
// into one WAL record: after any crash all of it is present or none. A
// single-operation call is a transaction of one operation. Versions are a
// global, strictly increasing commit sequence assigned at commit; recovery
// never invents, renumbers or reuses a recovered version.
//
// # Durability
//
//	mode      a commit returns after          process crash          power loss
//	Strict    its record is fdatasync'd       every ack survives     every ack survives
//	          (group commit shares syncs)
//	Buffered  its record is written to the    every ack survives     a prefix survives, holding every
//	          OS; syncs every SyncInterval,                          commit acknowledged before the
//	          on Flush, Checkpoint, Close                            last completed sync
//	InMemory  it is applied in memory         nothing survives       nothing survives
//
// Reads see exactly the acknowledged commits: a commit is applied in memory
// before it is durable but becomes visible only when its acknowledgement is
// allowed. A failed write or fsync is never retried as if nothing happened:
// the database fails (every later write returns ErrFailed wrapping the
// original error, reads keep working) until it is reopened.
//
// # On disk
//
//	<dir>/LOCK                      flock: exclusive for a writer, shared for read-only handles
//	<dir>/MANIFEST                  database UUID, codec, where the log starts, current
//	                                snapshot, and the durable end of the log
//	<dir>/WAL/wal-000001.seg        log segments (see internal/wal for the format)
//	<dir>/SNAPSHOTS/snap-000001.chk snapshots written by Checkpoint
//
// docs/formats.md in the repository summarizes every format; each internal
// package doc has its byte diagrams. The MANIFEST is written last when a
// database is created, so a directory without one holds no database yet
// (ErrNotDatabase; Open finishes such a creation cut short), unless it
// holds log records or snapshots: then the MANIFEST was lost (corruption).
//
// # Recovery
//
// Open loads the MANIFEST's snapshot and replays the log records above its
// watermark. The MANIFEST records a durable end of the log, moved forward at
// each segment rotation, checkpoint and recovery and, exactly, at a clean
// Close: a log that ends before it, lacks a segment up to it or is damaged
// before it is refused with a *CorruptionError naming file, offset and
// reason, and nothing on disk is changed. The unsynced end of the last
// segment may be torn by a crash; records carry the offset their segment
// was known synced to, which tells a torn tail (beyond the durable end and
// every surviving claim: truncated, then synced, before any new write) from
// damage to durable data. After a clean Close every loss is detected; after
// a crash, the newest segment cut back past the durable end so that no
// surviving record claims past the cut cannot be told from a torn tail
// (docs/formats.md says exactly what can be told apart).
// RecoverPointInTime opens the valid prefix instead and keeps everything it
// sets aside in DIR/lost+found. Recovery syncs what it read before
// accepting a commit, so a second crash cannot lose what the first recovery
// served, and commit timestamps continue from the recovered ones: they
// never go back across a reopen.
//
// Options.ReadOnly recovers into memory and writes nothing (no LOCK file,
// no tail cut, no sync), so it works on read-only media; Verify uses it.
//
// # Backup
//
// DB.Export writes a self-contained copy of the database as of a checkpoint
// into an empty directory while the database stays open and writable: a
// MANIFEST, the snapshot, an empty log segment, and last an EXPORT marker
// listing every file with its size and checksum. Import verifies the marker
// and opens the copy (in place, or into memory with InMemory); a directory
// whose Export or copy did not finish is refused with ErrIncompleteExport.
// Open of an export checks it the same way and removes its marker;
// CopyExport copies an export, leaving it as it was, for a restore.
// A closed database directory may also simply be copied file by file, and
// so may an open one that takes no commit between a Checkpoint and the end
// of the copy.
//
// # Testing seams
//
// Options.FS runs the engine on any vfs.FS: vfs.MemFS simulates power loss,
// vfs/errorfs injects I/O errors. Options.CrashPoints arms the engine's crash
// points (package crashpoint). Package crashtest builds crash campaigns on
// both.
package inmem
