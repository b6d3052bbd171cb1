package lazyfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/in-mem/inmem/vfs"
)

// Available reports whether Mount can work here; the error says exactly
// what is missing.
func Available() error {
	var missing []string
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing = append(missing, fmt.Sprintf("/dev/fuse (%v)", err))
	}
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && !bytes.Contains(b, []byte("\tfuse\n")) {
		missing = append(missing, "fuse in /proc/filesystems (modprobe fuse)")
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			if _, err := exec.LookPath("fusermount"); err != nil {
				missing = append(missing, "root or fusermount in PATH (to mount FUSE as another user)")
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrUnavailable, strings.Join(missing, "; "))
	}
	return nil
}

// Mount serves a lazy filesystem on mountpoint, an existing directory,
// holding what the backing directory holds, all of it durable. backing ""
// starts empty and writes nothing back (a mount for one test).
func Mount(backing, mountpoint string, opts *Options) (*FS, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if err := checkDirs(backing, mountpoint); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	mem := vfs.NewMemFS()
	if backing != "" {
		var err error
		if mem, err = loadBacking(backing); err != nil {
			return nil, err // names the file: ErrNotServed, or an *fs.PathError
		}
	}
	return serve(newCore(mem, backing, o.record), mountpoint, o)
}

// serve mounts c on mountpoint, with its control socket if asked.
func serve(c *core, mountpoint string, o Options) (*FS, error) {
	root := &node{c: c}
	if o.ackLog {
		root.acks = newAckFile(c.clock)
	}
	server, err := mountFUSE(mountpoint, root)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mounting on %s: %w", mountpoint, err)
	}
	f := &FS{core: c, mountpoint: mountpoint, opts: o, sys: &fuseMount{dir: mountpoint, server: server, root: root}}
	if o.Socket != "" {
		if f.ctl, err = listenControl(o.Socket); err != nil {
			return nil, errors.Join(err, f.Unmount())
		}
		go serveControl(f.ctl, f)
	}
	return f, nil
}

func checkDirs(backing, mountpoint string) error {
	dirs := []string{mountpoint}
	if backing != "" {
		dirs = append(dirs, backing)
	}
	for _, d := range dirs {
		if info, err := os.Stat(d); err != nil || !info.IsDir() {
			return fmt.Errorf("%w: %q", ErrNotDir, d)
		}
	}
	return nil
}

// fuseMount is the FUSE side of a mount.
type fuseMount struct {
	dir    string
	server *fuse.Server
	root   *node
}

// forget drops every name below the root, in go-fuse's tree and in the
// kernel's cache: the next lookup of each finds the new tree.
func (m *fuseMount) forget() {
	for name := range m.root.Children() {
		if name == ackName {
			continue
		}
		m.root.RmChild(name)
		m.root.NotifyEntry(name)
	}
}

// unmount stops serving. A busy mount (a file still open on it) is
// detached: it leaves /proc/mounts at once, and the kernel ends the
// connection when the last file closes or this process ends.
func (m *fuseMount) unmount() error {
	if m.root.acks != nil {
		m.root.acks.Close()
	}
	err := m.server.Unmount()
	if err == nil {
		return nil
	}
	if derr := unix.Unmount(m.dir, unix.MNT_DETACH); derr != nil {
		return fmt.Errorf("lazyfs: unmounting %s: %w (detaching: %v)", m.dir, err, derr)
	}
	return nil
}
