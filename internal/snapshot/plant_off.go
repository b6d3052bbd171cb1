//go:build !inmem_plant_snapshot_trustlen

package snapshot

// trustBlockLength is false: a block's length is checked before anything is
// read or allocated for it. Only the test-only build tag
// inmem_plant_snapshot_trustlen plants the bug of trusting it, so that the
// crash harness's tests can prove they catch a reader that allocates what a
// damaged length says.
const trustBlockLength = false
