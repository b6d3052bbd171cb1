package wal

import (
	"fmt"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/in-mem/inmem/vfs"
)

// readSegment returns a segment's bytes and what to call once done with
// them: a read-only mapping of the file if o.Map is set and the filesystem
// can (vfs.ReadMapper), else a copy read into memory. A mapping spares the
// copy out of the page cache and the zeroing and faulting in of a buffer
// as large as the segment: about a fifth of opening a large log.
func readSegment(o ScanOptions, path string) ([]byte, func(), error) {
	if o.Map {
		if data, release, ok := mapSegment(o.FS, path); ok {
			return data, release, nil
		}
	}
	data, err := vfs.ReadFile(o.FS, path)
	return data, func() {}, err
}

// mapSegment maps the file at path, or reports false (not a ReadMapper,
// empty, or the mapping failed: the caller reads the file instead, and
// meets any error there).
func mapSegment(fsys vfs.FS, path string) ([]byte, func(), bool) {
	info, err := fsys.Stat(path)
	if err != nil || info.Size() == 0 || int64(int(info.Size())) != info.Size() {
		return nil, nil, false
	}
	f, err := fsys.Open(path)
	if err != nil {
		return nil, nil, false
	}
	defer f.Close() // NB: a mapping outlives its descriptor
	rm, ok := f.(vfs.ReadMapper)
	if !ok {
		return nil, nil, false
	}
	m, err := rm.MapRead(info.Size())
	if err != nil {
		return nil, nil, false
	}
	return m.Bytes(), func() { m.Close() }, true
}

// FaultError is a memory fault reading a mapped segment: what a read error
// of the device (or the file cut short by someone else while it is read)
// looks like through a mapping. It matches syscall.EIO, as the failed read
// it stands for would.
type FaultError struct {
	Path   string
	Offset int64
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("inmem/wal: read %s: memory fault at offset %d of its mapping (an I/O error, or the file cut short)", e.Path, e.Offset)
}

func (e *FaultError) Unwrap() error { return syscall.EIO }

// guardFaults turns memory faults into panics for the calling goroutine
// and returns what restores the setting; the caller defers both it and
// recoverFault.
func guardFaults() func() {
	old := debug.SetPanicOnFault(true)
	return func() { debug.SetPanicOnFault(old) }
}

// recoverFault, deferred, turns a panic for a fault inside data into a
// *FaultError in *err. Any other panic goes on.
func recoverFault(data []byte, path string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(interface{ Addr() uintptr })
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if !ok || f.Addr() < base || f.Addr()-base >= uintptr(len(data)) {
		panic(r)
	}
	*err = &FaultError{Path: path, Offset: int64(f.Addr() - base)}
}
