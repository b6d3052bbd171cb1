// Package crashtest proves that an in-mem database keeps its promises
// across crashes. It is half of the product: `inmem crash` runs it, and
// your tests can import it, as net/http/httptest is imported.
//
// # What is judged
//
// Every crash is followed by a recovery and a judgement by the
// ReferenceModel (DESIGN.md section 6). The model holds the history of
// operations issued and what became of each (acknowledged, failed, in
// flight with the version its transaction announced). A recovered database
// passes only if it equals, in both directions (every run, every KV version,
// every event, every cell, and nothing else), the model's state after the
// prefix of the history ending at the database's last version; that prefix
// must hold every operation the durability mode promised (Strict: every
// acknowledgement; Buffered after a power loss: every acknowledgement before
// the last completed sync); an operation in flight is all there or not at
// all; and the next commit must get the next version. "It opened" is never
// a pass.
//
// # Ways to crash
//
//   - CrashHarness: in process. A scenario runs on an open database through
//     a ScenarioRunner; an armed crash point (package crashpoint) stops the
//     world: the filesystem freezes, files and locks are released as by a
//     dying process, or, for PowerLoss, a vfs.MemFS crash clone keeps only
//     what the crash policy keeps.
//   - ProcessCrashTester: real processes. A workload child (ChildMain;
//     `inmem crash child`) runs concurrent writers and acknowledges on a pipe
//     after each commit returns; the parent kills it with SIGKILL, SIGABRT or
//     SIGSEGV, or the child SIGKILLs itself at the nth hit of a crash point.
//     Iterations accumulate on one directory.
//   - Explore: every sync point (or every operation) of a recorded workload,
//     each crash policy (drop, keep, random torn subsets), recovered in
//     parallel and judged as the model stood at that moment.
//   - ErrorSweep: EIO, ENOSPC, a short write or a failed fsync at every
//     filesystem operation in turn.
//   - WALCorruptionTester and RunCorruptionCase: torn tails, garbage, bit
//     rot, damaged headers, missing segments, a bad MANIFEST or snapshot.
//   - KernelCrashTester (Linux, root): a power cut through the real kernel,
//     EXT4_IOC_SHUTDOWN on ext4 over a loop device, then a remount that
//     replays the journal. ExploreBarriers serves the loop device's image
//     through a FUSE filesystem that logs every write and flush, and judges
//     the crash states at and between flush barriers.
//   - Target: any engine (bbolt and SQLite adapters live in the separate
//     module crashtargets) driven by those testers and judged by a
//     key/value model.
//   - RunMatrix: every crash point × {kill, power loss drop, power loss
//     random} × {Strict, Buffered}, each cell with its stated expectation.
//   - RunCampaign: all of the above on a time budget, sharded, with a JSON
//     and an HTML report.
//
// # Reproducing
//
// Everything random takes a seed. Every failure report names the seed, the
// crash point and type, the last operations, and a command that reproduces
// it.
package crashtest
