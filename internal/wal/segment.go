package wal

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/vfs"
)

// DirName is the log's directory inside a database directory.
const DirName = "WAL"

// SegmentName returns the file name of segment num.
func SegmentName(num uint64) string { return fmt.Sprintf("wal-%06d.seg", num) }

// ParseSegmentName returns the number in a segment file name.
func ParseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "wal-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".seg")
	if !ok || len(s) < 6 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || SegmentName(n) != name {
		return 0, false
	}
	return n, true
}

// ListSegments returns the numbers of the segment files in walDir, ascending.
// Other files are ignored.
func ListSegments(fsys vfs.FS, walDir string) ([]uint64, error) {
	names, err := fsys.List(walDir)
	if err != nil {
		return nil, err
	}
	var nums []uint64
	for _, n := range names {
		if num, ok := ParseSegmentName(n); ok {
			nums = append(nums, num)
		}
	}
	return nums, nil // List is sorted and the names are zero-padded
}

// CreateSegment creates segment num with its header and makes it durable:
// the file is synced, then its directory. cp is hit between the header write
// and the syncs.
func CreateSegment(fsys vfs.FS, walDir string, num uint64, uuid [16]byte, cp *crashpoint.Set) (vfs.File, error) {
	path := filepath.Join(walDir, SegmentName(num))
	f, err := fsys.Create(path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(AppendHeader(nil, num, uuid)); err != nil {
		f.Close()
		return nil, err
	}
	cp.Hit(crashpoint.DuringSegmentRotation)
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := vfs.SyncDir(fsys, walDir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
