package crashtest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/in-mem/inmem/vfs"
)

// copyTree copies the directory tree src of srcFS to dst of dstFS, syncing
// every file and directory: the copy is entirely durable.
func copyTree(srcFS vfs.FS, src string, dstFS vfs.FS, dst string) error {
	if err := dstFS.MkdirAll(dst); err != nil {
		return err
	}
	names, err := srcFS.List(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		sp, dp := filepath.Join(src, n), filepath.Join(dst, n)
		info, err := srcFS.Stat(sp)
		if err != nil {
			return err
		}
		if info.IsDir() {
			err = copyTree(srcFS, sp, dstFS, dp)
		} else {
			err = copyFile(srcFS, sp, dstFS, dp)
		}
		if err != nil {
			return err
		}
	}
	return vfs.SyncDir(dstFS, dst)
}

func copyFile(srcFS vfs.FS, src string, dstFS vfs.FS, dst string) error {
	data, err := vfs.ReadFile(srcFS, src)
	if err != nil {
		return err
	}
	return vfs.WriteFile(dstFS, dst, data)
}

// loadDir returns a MemFS holding the durable copy of dir (empty if dir does
// not exist), at the same path.
func loadDir(dir string) (*vfs.MemFS, error) {
	m := vfs.NewMemFS()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err := copyTree(vfs.OS, dir, m, dir); err != nil {
		return nil, err
	}
	if err := syncParents(m, dir); err != nil {
		return nil, err
	}
	return m, nil
}

// syncParents syncs every directory above dir, so its entry is durable.
func syncParents(fsys vfs.FS, dir string) error {
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		if err := vfs.SyncDir(fsys, d); err != nil {
			return err
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// storeDir replaces dir on disk with the copy of dir held in m.
func storeDir(m *vfs.MemFS, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if ok, err := vfs.Exists(m, dir); err != nil || !ok {
		return os.MkdirAll(dir, 0o755)
	}
	return copyTree(m, dir, vfs.OS, dir)
}
