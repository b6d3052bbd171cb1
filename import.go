package inmem

import (
	"path/filepath"

	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// CopyExport copies the complete export in src into dst, which must not
// exist or be empty, and leaves src unchanged: dst is then a complete
// export of its own, its EXPORT marker written last, ready for Import (so
// a backup can be restored, and restored again). src is checked first as
// Import checks it: an incomplete export fails with ErrIncompleteExport and
// a damaged one with a *CorruptionError, before dst is created. opts
// supplies FS; nil means the defaults.
func CopyExport(src, dst string, opts *Options) error {
	o, err := opts.prepare()
	if err != nil {
		return err
	}
	switch {
	case src == "" || dst == "":
		return invalidf("empty directory")
	case inside(dst, src) || inside(src, dst):
		return invalidf("cannot copy export %s into %s: one holds the other", src, dst)
	}
	if _, err := verifyExport(o.FS, src); err != nil {
		return err
	}
	marker, err := vfs.ReadFile(o.FS, filepath.Join(src, ExportName))
	if err != nil {
		return err
	}
	_, listed, err := decodeExportMarker(filepath.Join(src, ExportName), marker)
	if err != nil {
		return err
	}
	if err := prepareEmptyDir(o.FS, dst); err != nil {
		return err
	}
	for _, f := range listed {
		p := filepath.FromSlash(f.path)
		if err := copyFile(o.FS, filepath.Join(src, p), filepath.Join(dst, p)); err != nil {
			return err
		}
	}
	if err := syncExportDirs(o.FS, dst); err != nil {
		return err
	}
	return writeMarker(o.FS, dst, marker)
}

// prepareEmptyDir creates dir and its WAL and SNAPSHOTS directories, after
// checking dir does not exist or is empty.
func prepareEmptyDir(fsys vfs.FS, dir string) error {
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	names, err := fsys.List(dir)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return invalidf("directory %s is not empty (%d entries)", dir, len(names))
	}
	for _, d := range []string{wal.DirName, snapshot.DirName} {
		if err := fsys.MkdirAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	return nil
}

// syncExportDirs makes every directory entry of an export durable, its own
// entry in its parent included.
func syncExportDirs(fsys vfs.FS, dir string) error {
	parent := filepath.Dir(filepath.Clean(dir))
	for _, d := range []string{filepath.Join(dir, wal.DirName), filepath.Join(dir, snapshot.DirName), dir, parent} {
		if err := vfs.SyncDir(fsys, d); err != nil {
			return err
		}
	}
	return nil
}
