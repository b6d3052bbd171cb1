package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/in-mem/inmem/crashtest"
)

// Coverage of the store's files: where each file of the store lies on the
// device at the end of the recorded workload (FIEMAP on the image the
// whole log leaves, mounted read-only), so that every crash state can be
// told which files the writes it interrupted belonged to. Files the
// workload removed before its end are not there to map: their writes, and
// ext4's own metadata and journal, count for no file.

// storeFile is one file of the store and its extents on the device.
type storeFile struct {
	name    string
	size    int64
	extents [][2]int64 // device byte ranges [start, end)
}

// fsIocFiemap is FS_IOC_FIEMAP (_IOWR('f', 11, struct fiemap)).
const fsIocFiemap = 0xc020660b

// The sizes of struct fiemap (its header) and struct fiemap_extent.
const (
	fiemapHeader = 32
	fiemapExtent = 56
	maxExtents   = 512
)

// mapStoreFiles maps the files of the store (dir "db") on the image the
// whole log leaves.
func mapStoreFiles(scratch string, rec *recording, opts string) (files []storeFile, err error) {
	img := slices.Clone(rec.base)
	for _, op := range rec.log {
		applyBlock(img, op)
	}
	path, mnt := filepath.Join(scratch, "end.img"), filepath.Join(scratch, "end")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(path)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	dev, err := attachLoop(path)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, dev.detach()) }()
	if err := unix.Mount(dev.path, mnt, "ext4", unix.MS_RDONLY, opts); err != nil {
		return nil, fmt.Errorf("mount -o ro %s: %w", dev.path, err)
	}
	defer func() { err = errors.Join(err, unmount(mnt)) }()
	return walkStore(filepath.Join(mnt, "db"))
}

// walkStore maps every regular file under root.
func walkStore(root string) ([]storeFile, error) {
	var files []storeFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		ext, err := fiemap(f)
		if err != nil {
			return fmt.Errorf("FIEMAP %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, storeFile{name: rel, size: info.Size(), extents: ext})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].size > files[j].size })
	return files, err
}

// fiemap returns the device byte ranges of f's extents (up to
// maxExtents).
func fiemap(f *os.File) ([][2]int64, error) {
	buf := make([]byte, fiemapHeader+maxExtents*fiemapExtent)
	ne := binary.NativeEndian
	ne.PutUint64(buf[8:], ^uint64(0))  // fm_length: the whole file
	ne.PutUint32(buf[24:], maxExtents) // fm_extent_count
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return nil, errno
	}
	n := min(int(ne.Uint32(buf[20:])), maxExtents)
	out := make([][2]int64, 0, n)
	for i := range n {
		e := buf[fiemapHeader+i*fiemapExtent:]
		phys, length := int64(ne.Uint64(e[8:])), int64(ne.Uint64(e[16:]))
		out = append(out, [2]int64{phys, phys + length})
	}
	return out, nil
}

// touched returns the files the writes a crash state interrupted belong
// to: those after its last barrier, up to the next one.
func touched(files []storeFile, log []blockOp, s crashState) []string {
	var out []string
	for _, op := range log[min(s.prefix, len(log)):] {
		if op.barrier {
			break
		}
		for _, f := range files {
			if f.overlaps(op.off, op.off+op.size()) && !slices.Contains(out, f.name) {
				out = append(out, f.name)
			}
		}
	}
	return out
}

func (f storeFile) overlaps(lo, hi int64) bool {
	return slices.ContainsFunc(f.extents, func(e [2]int64) bool { return e[0] < hi && lo < e[1] })
}

// fileCoverage is the coverage of files: each file's size, and states
// counts per file.
func fileCoverage(files []storeFile, states map[string]int) *crashtest.Coverage {
	c := &crashtest.Coverage{}
	for _, f := range files {
		c.Files = append(c.Files, crashtest.FileCoverage{Name: f.name, Size: f.size, States: states[f.name]})
	}
	return c
}
