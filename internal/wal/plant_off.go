//go:build !inmem_plant_close_nosync

package wal

// closeSkipsSync is false: Close syncs the log before it closes it. Only the
// test-only build tag inmem_plant_close_nosync plants the bug of handing the
// last writes to the OS without syncing them, so that the crash harness's
// tests can prove they catch it.
const closeSkipsSync = false
