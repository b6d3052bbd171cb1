//go:build inmem_plant_snapshot_trustlen

package snapshot

// trustBlockLength is the planted bug (see plant_off.go): a block's length
// is trusted, and read into a buffer of that size.
const trustBlockLength = true
