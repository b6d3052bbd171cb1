// Package crashtest proves that an in-mem database keeps its promises
// across crashes. It is half of the product: `inmem crash` runs it, and
// your tests can import it, as net/http/httptest is imported.
//
// # What is judged
//
// Every crash is followed by a recovery and a judgement by the
// ReferenceModel. The model holds the history of operations issued and
// what became of each (acknowledged, failed, in flight with the version its
// transaction announced). A recovered database passes only if it equals, in
// both directions (every run with the id it was created with, every KV
// version, every event with the sequence number it was acknowledged with,
// every cell, and nothing else), the model's state after the prefix of the
// history ending at the database's last version, histories trimmed only
// where a full compaction ran; that prefix must hold every
// operation the durability mode promised (Strict: every acknowledgement;
// Buffered after a power loss: every acknowledgement before the last
// completed sync); an operation in flight is all there or not at all; and
// the next commit must get the next version. "It opened" is never a pass.
// The whole rule book, with the on-disk formats and recovery rules it
// checks, is docs/design.md in the repository.
//
// # Other engines
//
// A Target is any key/value store the testers that run real processes
// (kill, the ext4 power cut, the barrier explorer) can crash instead of
// in-mem: they drive it over the target protocol, newline-delimited JSON
// on a target executable's stdin and stdout (docs/target-protocol.md), so
// an engine in any language can be tested, and judge it with a key/value
// model: every acknowledged write the configuration promises (Caps) is
// there, nothing deleted or lost comes back, no value appears that no write
// wrote, no atomic batch is torn, the store opens and works. Each finding
// has a Class, counted apart in the report: a store that does not open
// after a crash during its first creation, with nothing acknowledged, is
// ClassCreation, a notice and not a data-loss violation.
//
// Every workload has a lifecycle (proc.Lifecycle): creation, writes, clean
// close and reopen cycles, and crash, recover, crash again.
//
// # Layout
//
// This package is the core every fault type builds on:
//
//	crashtest             the ReferenceModel and its operations (Op, Write), the
//	                      ScenarioRunner, Promise and Verdict, Image (a whole
//	                      state, ids and timestamps included), the workload
//	                      Generator, the in-process CrashHarness, the Target
//	                      interface for other engines, and the vocabulary every
//	                      scenario reports in (Scenario, Session, Findings,
//	                      Violation, Reproduction, Cell, Sample)
//	crashtest/proc        child processes: the workload child and its acknowledgement
//	                      pipe, the target protocol (ServeTarget, TargetMain) and the
//	                      key/value model, the lifecycle (Lifecycle, Cycler), the kill
//	                      tester (ProcessCrashTester), recordings of a run for
//	                      explorers, the settings every target-crashing scenario takes
//	crashtest/powerloss   every sync point of a recorded workload, every crash policy
//	crashtest/ioerr       an I/O error at every filesystem operation in turn
//	crashtest/corrupt     damaged files: torn tails, bit rot, missing segments
//	crashtest/matrix      every crash point × kill and power loss × durability
//	crashtest/kernel      Linux: power cuts through ext4 on a loop device, and
//	                      the block-level barrier explorer
//	crashtest/lazyfs      Linux: a lazy FUSE filesystem that loses what was not
//	                      synced, for any program; and its crash explorer over
//	                      the file-level operations of a recorded workload
//	crashtest/campaign    the registry of scenarios, Run, the report, Merge
//
// The rules that keep it that way:
//
//   - A fault package imports the core and nothing of its siblings but
//     proc, the layer every tester that runs real processes stands on
//     (matrix, kernel and lazyfs use it); only campaign imports them all.
//   - go-fuse is imported by kernel and lazyfs only, in _linux.go files,
//     with a stub elsewhere that says FUSE is unavailable.
//   - A fault type is one package whose Scenario value the campaign
//     registry lists: that one line gives it a command (`inmem crash
//     NAME`, its Params as flags), a place in `inmem crash all` and in the
//     report. Nothing else names it.
//   - Nothing below the command line knows a command line: failures carry
//     a Reproduction (scenario, seed, durability, settings), which the CLI
//     formats as a command and parses back.
//   - No crashtest package imports the engine's internal packages: the
//     harness reaches in-mem through its public seams (the API, package
//     vfs, package crashpoint, inmem.Inspect), as a user's tests do.
//   - Names are not repeated by their package (powerloss.Config,
//     ioerr.Violation); the original harness's names stay where they
//     were first given (CrashHarness, ScenarioRunner, ProcessCrashTester,
//     WALCorruptionTester, ReferenceModel).
//
// # Reproducing
//
// Everything random takes a seed. Every failure carries the seed and the
// settings that rerun it, and `inmem crash` prints them as one command.
package crashtest
