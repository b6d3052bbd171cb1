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
// MANIFEST's; either mismatch is corruption.
//
// # Records
//
// After the header come records, back to back; a record never spans two
// segments:
//
//	+--------+-----+--------+--------+--------+-----------------+--------+
//	| length | ver | txn id | commit | synced | writeset        | CRC-32C|
//	| u32 LE | u8  | u64 LE | ts µs  | offset | (codec-encoded) | u32 LE |
//	|        |     |        | u64 LE | u64 LE |                 |        |
//	+--------+-----+--------+--------+--------+-----------------+--------+
//	         |<------------------- length bytes ---------------------->|
//	|<------------------ covered by the CRC ------------------>|
//
// length counts every byte after itself (29 + writeset); a length below 29
// or above the configured maximum is damage, never an allocation. txn id is
// the commit version: strictly increasing by one from record to record,
// across segments, never reused. synced offset is how far this segment was
// known to be durably synced when the record was encoded (a lower bound of
// the truth).
//
// # Torn tail or corruption
//
// A power loss may leave the unsynced end of the last segment in any shape:
// cut short, zero-filled, garbage, or a valid record after a lost one. The
// scan stops at the first damage (short read, bad length, bad CRC, a txn id
// that does not follow). It then looks for valid records beyond it and takes
// the largest synced offset any valid record of the segment claims. Damage
// at or beyond that offset, in the last segment, hit bytes that were never
// promised durable: a torn tail, truncated by recovery. Damage below it, or
// in any earlier segment (every segment is synced before the next is
// created), hit durable bytes: corruption.
package wal
