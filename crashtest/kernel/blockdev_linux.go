package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/in-mem/inmem/crashtest/proc"
	"golang.org/x/sys/unix"
)

// The kernel's pieces the ext4 power cut and the barrier explorer use: loop
// devices (only ones this process configured are ever detached), mkfs.ext4,
// mount, and the shutdown ioctl xfstests uses to simulate a power loss.

// ext4IocShutdown is EXT4_IOC_SHUTDOWN (_IOR('X', 125, __u32)), also
// FS_IOC_SHUTDOWN; golang.org/x/sys/unix does not define it.
const ext4IocShutdown = 0x8004587d

// shutdownNoLogFlush is EXT4_GOING_FLAGS_NOLOGFLUSH: stop the filesystem
// now, without flushing the journal: whatever has not reached the device is
// lost, as if the power went out.
const shutdownNoLogFlush = unix.FS_SHUTDOWN_FLAGS_NOLOGFLUSH

// kernelAvailable says exactly what is missing for loop-mounted ext4.
func kernelAvailable() error {
	var missing []string
	if uid := os.Geteuid(); uid != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d; loop devices and mount need root)", uid))
	} else if !hasCapSysAdmin() {
		missing = append(missing, "CAP_SYS_ADMIN (root without it, as in an unprivileged container, cannot mount)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		missing = append(missing, fmt.Sprintf("/dev/loop-control (%v; is the loop module loaded?)", err))
	}
	if _, err := mkfsPath(); err != nil {
		missing = append(missing, err.Error())
	}
	if !procFilesystem("ext4") {
		missing = append(missing, "ext4 in /proc/filesystems (modprobe ext4)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrUnavailable, strings.Join(missing, "; "))
	}
	return nil
}

// fuseAvailable says exactly what is missing for the barrier explorer.
func fuseAvailable() error {
	err := kernelAvailable()
	var missing []string
	if _, serr := os.Stat("/dev/fuse"); serr != nil {
		missing = append(missing, fmt.Sprintf("/dev/fuse (%v)", serr))
	}
	if !procFilesystem("fuse") {
		missing = append(missing, "fuse in /proc/filesystems (modprobe fuse)")
	}
	switch {
	case len(missing) == 0:
		return err
	case err != nil:
		return fmt.Errorf("%w; missing %s", err, strings.Join(missing, "; "))
	}
	return fmt.Errorf("%w: missing %s", ErrUnavailable, strings.Join(missing, "; "))
}

// hasCapSysAdmin reports whether the effective capabilities hold
// CAP_SYS_ADMIN (bit 21 of CapEff in /proc/self/status).
func hasCapSysAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true // cannot tell: let mount say
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err != nil || caps&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	return true
}

func procFilesystem(name string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

func mkfsPath() (string, error) {
	if p, err := exec.LookPath("mkfs.ext4"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mkfs.ext4 (not on PATH, /usr/sbin or /sbin; install e2fsprogs)")
}

// makeImage creates a file of size bytes at path holding a new ext4 with 4
// KiB blocks, every inode table and the journal written out now (no lazy
// initialization writing behind the workload's back).
func makeImage(path string, size int64) error {
	mkfs, err := mkfsPath()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := exec.Command(mkfs, "-F", "-q", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// loopDev is a loop device this process configured.
type loopDev struct {
	path string
	f    *os.File
}

// attachLoop configures a free loop device on the image file.
func attachLoop(image string) (*loopDev, error) {
	img, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer img.Close() // the device holds its own reference
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	for attempt := 0; ; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := openLoopNode(path)
		if err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
		copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], image) // NUL-terminated, as losetup shows it
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return &loopDev{path: path, f: dev}, nil
		}
		dev.Close()
		// EBUSY: someone else took the device between GET_FREE and
		// CONFIGURE. Ask for another; it was never ours to touch.
		if !errors.Is(err, unix.EBUSY) || attempt == 20 {
			return nil, fmt.Errorf("LOOP_CONFIGURE %s: %w", path, err)
		}
	}
}

// openLoopNode opens a loop device node, waiting briefly for devtmpfs to
// create a new one.
func openLoopNode(path string) (*os.File, error) {
	for i := 0; ; i++ {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || i == 50 {
			return f, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// detach releases the loop device (once nothing has it mounted).
func (d *loopDev) detach() error {
	if d == nil || d.f == nil {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ {
		if err = unix.IoctlSetInt(int(d.f.Fd()), unix.LOOP_CLR_FD, 0); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cerr := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("LOOP_CLR_FD %s: %w", d.path, err)
	}
	return cerr
}

// mountExt4 mounts dev at dir with the mount data opts ("" for defaults).
func mountExt4(dev, dir, opts string) error {
	if err := unix.Mount(dev, dir, "ext4", 0, opts); err != nil {
		return fmt.Errorf("mount -t ext4 -o %q %s %s: %w", opts, dev, dir, err)
	}
	return nil
}

// unmount unmounts dir, retrying while it is busy (a child that was just
// reaped may still be releasing its files).
func unmount(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = unix.Unmount(dir, 0); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("umount %s: %w", dir, err)
	}
	return nil
}

// shutdownFS cuts the power under the filesystem mounted at dir: nothing
// more reaches the device, the journal is not flushed.
func shutdownFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetPointerInt(fd, ext4IocShutdown, shutdownNoLogFlush); err != nil {
		return fmt.Errorf("EXT4_IOC_SHUTDOWN(NOLOGFLUSH) on %s: %w", dir, err)
	}
	return nil
}

// ext4Mount is an ext4 image attached to a loop device and mounted.
type ext4Mount struct {
	image, dir, opts string
	dev              *loopDev
	mounted          bool
}

// up attaches a new loop device to the image and mounts it (replaying the
// journal if a crash left one to replay).
func (m *ext4Mount) up() error {
	dev, err := attachLoop(m.image)
	if err != nil {
		return err
	}
	m.dev = dev
	if err := mountExt4(dev.path, m.dir, m.opts); err != nil {
		return errors.Join(err, m.down())
	}
	m.mounted = true
	return nil
}

// down unmounts and detaches, whatever state it is in. If the filesystem
// stays busy it is detached lazily (MNT_DETACH) and the loop device set to
// go away with it (LOOP_CLR_FD on a device still in use sets autoclear):
// nothing is left behind for long, and the failure is still reported.
func (m *ext4Mount) down() error {
	var errs []error
	if m.mounted {
		if err := unmount(m.dir); err != nil {
			errs = append(errs, err)
			if lerr := unix.Unmount(m.dir, unix.MNT_DETACH); lerr != nil {
				errs = append(errs, fmt.Errorf("umount -l %s: %w", m.dir, lerr))
			}
		}
		m.mounted = false
	}
	if m.dev != nil {
		errs = append(errs, m.dev.detach())
		m.dev = nil
	}
	return errors.Join(errs...)
}

// cycle is a power cut's aftermath: unmount the dead filesystem, detach,
// attach again and mount, so the journal replays from what reached the
// device.
func (m *ext4Mount) cycle() error {
	if err := m.down(); err != nil {
		return err
	}
	return m.up()
}

func newExt4Mount(image, dir, opts string) *ext4Mount {
	return &ext4Mount{image: image, dir: filepath.Clean(dir), opts: opts}
}

// powerCut stops the child, then shuts the filesystem down under it.
//
// NB: the child must be frozen first. After EXT4_IOC_SHUTDOWN the kernel
// keeps running, and an fdatasync that raced the shutdown can return 0
// although the metadata it needed (the file's new size) never reached the
// journal: the child would acknowledge a commit the "dead" disk does not
// hold. Under a real power loss nothing returns after the power is gone.
// So SIGSTOP, wait until every thread has stopped (a thread inside a system
// call stops when the call returns, before user code sees its result), and
// only then cut: every acknowledgement the child wrote was written before
// the power went out. SIGKILL follows.
func powerCut(p *os.Process, mnt string) error {
	if err := proc.Freeze(p); err != nil {
		return err
	}
	return shutdownFS(mnt)
}
