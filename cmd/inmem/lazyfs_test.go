package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/in-mem/inmem/crashtest/lazyfs"
)

func TestLazyfsMount_BadArgs(t *testing.T) {
	dir, file := t.TempDir(), filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"lazyfs", "mount", dir},
		{"lazyfs", "mount", filepath.Join(dir, "nope"), dir},
		{"lazyfs", "mount", dir, file},
		{"lazyfs", "mount", dir, dir, "--reports", file},
		{"lazyfs", "mount", dir, dir, "--socket", file},
		{"lazyfs", "mount", dir, dir, "--socket", filepath.Join(dir, "nope", "s.sock")},
		{"lazyfs", "unmount"},
	} {
		if code, _, errOut := runExit(t, args...); code != exitUsage {
			t.Errorf("inmem %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errOut)
		}
	}
}

// TestLazyfsMount_Session mounts in a child process, as a user would, drives
// it through its socket, and stops it with SIGTERM: the mount must be gone,
// the crash's report written, and the backing directory hold what the crash
// left.
func TestLazyfsMount_Session(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		t.Skipf("skipping inmem lazyfs mount: %v", err)
	}
	backing, mnt, reports := t.TempDir(), t.TempDir(), t.TempDir()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	cmd := exec.Command(os.Args[0], "lazyfs", "mount", backing, mnt, "--socket", sock, "--reports", reports)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		assertNotMounted(t, mnt)
	}()
	conn := dialWhenUp(t, sock)
	defer conn.Close()
	if err := os.WriteFile(filepath.Join(mnt, "unsynced"), []byte("lost"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("crash drop\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	var reply struct {
		OK     bool
		Report lazyfs.Report
	}
	if err != nil || json.Unmarshal(line, &reply) != nil || !reply.OK || reply.Report.Dropped == 0 {
		t.Fatalf("crash: %s, %v", line, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "unsynced")); !os.IsNotExist(err) {
		t.Fatalf("an unsynced file survived the crash: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stdout.String())
	}
	assertNotMounted(t, mnt)
	if _, err := os.Stat(filepath.Join(reports, "crash-1.json")); err != nil || !strings.Contains(stdout.String(), "unmounted") {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
}

// dialWhenUp connects to the control socket once the child serves it.
func dialWhenUp(t *testing.T, sock string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control socket never came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertNotMounted(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			t.Fatalf("a mount was left behind: %s", line)
		}
	}
}
