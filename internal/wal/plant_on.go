//go:build inmem_plant_close_nosync

package wal

// closeSkipsSync is the planted bug (see plant_off.go): Close does not sync.
const closeSkipsSync = true
