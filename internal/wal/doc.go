// Package wal is in-mem's write-ahead log: record framing, segment files,
// the group-commit writer and the recovery scan.
//
// # Files
//
// The log is a sequence of segment files WAL/wal-NNNNNN.seg (six or more
// decimal digits, from 1). Each starts with a 32-byte header:
//
//	0      4         8                  16                                32
//	+------+---------+------------------+----------------------------------+
//	| magic| version |  segment number  |          database UUID           |
//	|"IMWL"| u32 LE  |      u64 LE      |             16 bytes             |
//	+------+---------+------------------+----------------------------------+
//
// The segment number equals the one in the file name and the UUID equals the
// MANIFEST's; either mismatch is corruption. version is 2 (FormatVersion);
// segments of version 1 are still read, never written: a writable open of
// a log whose active segment is of version 1 continues it in a new segment.
//
// # Records
//
// After the header come records, back to back; a record never spans two
// segments, and is of its segment's version. Version 2:
//
//	+--------+-----+---------+--------+--------+--------+-----------------+--------+
//	| length | ver | segment | txn id | commit | synced | writeset        | CRC-32C|
//	| u32 LE | u8  | number  | u64 LE | ts µs  | offset | (codec-encoded) | u32 LE |
//	|        | (2) | u64 LE  |        | u64 LE | u64 LE |                 |        |
//	+--------+-----+---------+--------+--------+--------+-----------------+--------+
//	         |<------------------------ length bytes -------------------------->|
//	|<----------------------- covered by the CRC ------------------------>|
//
// Version 1 is the same without the segment number (length 29 + writeset).
// length counts every byte after itself (37 + writeset); a length below 37
// (29 in version 1) or above the configured maximum is damage, never an
// allocation. segment number is the segment the record was written for: a
// record naming another segment is stale, bytes a recycled file kept from
// an earlier life, never part of this log. txn id is the commit version:
// strictly increasing by one from record to record, across segments, never
// reused. synced offset is how far this segment was known to be durably
// synced when the record was encoded (a lower bound of the truth).
//
// # Segments written ahead
//
// A file's size change is metadata that an fdatasync must journal; an
// overwrite of blocks the file has is not. So the Writer (with
// PrepareAhead) writes records in place, at the end of the log, and a
// preparer, off the commit path, writes the next chunk of the active
// segment (up to MaxPrepareChunk, never past the segment size) with zeros
// and syncs it once the log comes within half a chunk of the prepared end.
// A preparation starts a little past the log's end (prepareSlack), so that
// commits never wait for it: the log grows into those bytes meanwhile. No
// record is written where zeros are being written. A segment file is
// therefore its header, its records, then its rest: zeros (or, in a
// recycled file, stale records). Recovery tells the rest apart: the log of
// a version 2 segment ends cleanly at the first offset that does not hold
// a valid record of the segment if every byte from there is zero or a stale
// record starts there, and no valid record of the segment lies anywhere
// after it. That is no damage and nothing is cut; the Writer writes over
// it. Anything else there (garbage, a partial record, a record of the
// segment after a hole) is damage, judged below.
//
// # The durable end
//
// The MANIFEST records a durable end of the log (see package manifest): a
// Position (segment, offset, txn of the last record before it) up to which
// every byte was synced before the MANIFEST said so. It is moved forward at
// each rotation (the new segment, past its header: the Writer's Rotated
// hook), each checkpoint, the end of a recovery, and a clean close (the
// exact end). The scan holds the log to it: every segment up to its segment
// must exist, valid records must reach its offset exactly (it is always a
// record boundary), and the last of them must be its txn.
//
// # Torn tail or corruption
//
// A power loss may leave the unsynced end of the last segment in any shape:
// cut short, zero-filled, garbage, or a valid record after a lost one. The
// scan stops at the first damage (short read, bad length, bad CRC, a txn id
// that does not follow, a record of another version or, unless it is the
// clean rest above, of another segment). It then looks for valid records of
// the segment beyond it (skipping runs of zeros, where no record starts) and
// takes the largest synced offset any of them claims. Damage
// is a torn tail, truncated by recovery, only if it is in the last segment,
// at or after the durable end, and at or beyond that largest claim: it hit
// bytes that were never promised durable. Anything else hit durable bytes:
// corruption. So is a log that ends (cleanly, at a record boundary) before
// the durable end, or lacks a segment up to it. A last segment with a bad
// header is a rotation cut short (the file is removed) only if it is newer
// than the durable end, holds no valid record, and its bytes are a prefix
// of its header with zeros for lost writes.
//
// What can be told apart: after a clean close, the durable end is the exact
// end, so any loss (a deleted, truncated or zeroed newest segment, cut at a
// record boundary or not) is corruption. A segment before the last whose
// log ends in a clean rest while the next segment, or the durable end,
// says records are missing is blamed for the loss (its last records were
// zeroed or overwritten), not the segment after it. After a crash, the durable end is
// where the last rotation, checkpoint or recovery left it, and the synced
// claims of the surviving records prove more, but only about bytes before a
// surviving record: damage followed by a valid record claiming an offset
// past it is corruption. The newest segment cut back (or zeroed, or lost
// from some point to its end) anywhere at or after the durable end, so that
// no surviving record claims past the cut, cannot be told apart from a torn
// tail: recovery truncates it as one, even if the records cut were synced
// and acknowledged. A deleted newest segment is always noticed, unless the
// crash came between its creation and the MANIFEST update that records it;
// then it held no record.
package wal
