package lazyfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/in-mem/inmem/vfs"
)

// The backing directory holds the durable state between mounts: it is
// read at the mount (all of it durable), and written at every crash (the
// state the crash left) and at a clean unmount (everything, as a clean
// shutdown writes everything back). Only files and directories are
// served; hard links in the backing directory are read as separate files,
// and links made on the mount are written back as separate copies.

// loadBacking reads dir into a new MemFS, everything durable.
func loadBacking(dir string) (*vfs.MemFS, error) {
	m := vfs.NewMemFS()
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join("/", filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, name)
		}
		return loadEntry(m, p, name, info)
	})
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if err := vfs.SyncDir(m, d); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loadEntry copies one file or directory of the backing directory.
func loadEntry(m *vfs.MemFS, src, name string, info fs.FileInfo) error {
	switch {
	case info.IsDir():
		if err := m.MkdirAll(name); err != nil {
			return err
		}
	case info.Mode().IsRegular():
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := vfs.WriteFile(m, name, data); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: %s is a %s", ErrNotServed, src, info.Mode().Type())
	}
	if err := m.Chmod(name, info.Mode().Perm()); err != nil {
		return err
	}
	return m.Chtimes(name, info.ModTime())
}

// storeBacking makes dir hold what m holds: files written where their
// content differs, entries m lacks removed.
func storeBacking(m *vfs.MemFS, dir string) error {
	if err := pruneBacking(m, dir); err != nil {
		return err
	}
	return walkMem(m, "/", func(p string, info fs.FileInfo) error {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if info.IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			return os.Chmod(dst, info.Mode().Perm())
		}
		data, err := vfs.ReadFile(m, p)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(dst); err != nil || !bytes.Equal(old, data) {
			if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
				return err
			}
		}
		return os.Chmod(dst, info.Mode().Perm())
	})
}

// pruneBacking removes what dir holds and m does not, or holds as another
// type.
func pruneBacking(m *vfs.MemFS, dir string) error {
	var gone []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, serr := m.Stat(path.Join("/", filepath.ToSlash(rel)))
		if serr != nil || info.IsDir() != d.IsDir() {
			gone = append(gone, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range gone {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
