package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/in-mem/inmem/crashtest/lazyfs"
)

// The lazyfs commands: a lazy filesystem for any program, driven through
// a unix socket (crashtest/lazyfs; the protocol is docs/lazyfs.md).

func init() { register(newLazyfsCmd) }

func newLazyfsCmd(_ *globals) *cobra.Command {
	return newGroupCmd("lazyfs", "A FUSE filesystem that loses, on command, what programs did not sync", newLazyfsMountCmd())
}

func newLazyfsMountCmd() *cobra.Command {
	var socket, reports string
	c := &cobra.Command{
		Use:   "mount BACKING MOUNTPOINT",
		Short: "Mount a lazy filesystem over BACKING on MOUNTPOINT until SIGINT or SIGTERM, driven through a unix socket",
		Long: `mount serves the files of BACKING on MOUNTPOINT (both existing directories)
through FUSE, keeping what programs write in its own cache: a write is
durable once its file is fsynced, a create, rename, link or unlink once its
directory is fsynced. A crash loses what was not, under a policy, and the
mount then shows what survived (and BACKING holds it). Drive it through the
control socket, one command a line, one JSON reply a line:

  crash [POLICY]   drop (default), keep, random:SEED, pages:SEED, reorder:SEED
  report           every change a crash now could lose
  clear            write everything through (sync every file and directory)
  stats            counts of the mount
  help             the commands

for example: echo 'crash pages:7' | socat - UNIX-CONNECT:MOUNTPOINT.sock
SIGINT, SIGTERM or SIGHUP unmounts (detaching a busy mount: none is left
behind) and writes everything to BACKING. docs/lazyfs.md has the protocol
and an example session. Needs Linux and FUSE.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLazyfsMount(cmd.OutOrStdout(), args[0], args[1], socket, reports)
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "the control socket (default MOUNTPOINT.sock, beside the mount point)")
	c.Flags().StringVar(&reports, "reports", "", "write the report of every crash to this directory as crash-N.json")
	return c
}

// runLazyfsMount checks the arguments, mounts, and serves until a signal.
func runLazyfsMount(out io.Writer, backing, mnt, socket, reports string) error {
	for _, d := range []struct{ what, dir string }{{"BACKING", backing}, {"MOUNTPOINT", mnt}, {"--reports", reports}} {
		if info, err := os.Stat(d.dir); d.dir != "" && (err != nil || !info.IsDir()) {
			return usagef("%s %q: want an existing directory", d.what, d.dir)
		}
	}
	if socket == "" {
		socket = filepath.Clean(mnt) + ".sock"
	}
	if err := checkSocketPath(socket); err != nil {
		return err
	}
	if err := lazyfs.Available(); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var mu sync.Mutex
	onCrash := func(r lazyfs.Report) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "crash %d, policy %s: %d unsynced changes, %d kept, %d dropped, %d torn%s\n", r.Crash, r.Policy,
			len(r.Changes), r.Kept, r.Dropped, r.Torn, writeCrashReport(reports, r))
	}
	f, err := lazyfs.Mount(backing, mnt, &lazyfs.Options{Socket: socket, OnCrash: onCrash})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "in-mem lazyfs: %s on %s; control socket %s (crash [POLICY], report, clear, stats, help); stop with Ctrl-C\n",
		backing, mnt, socket)
	sig := <-sigs
	mu.Lock()
	defer mu.Unlock()
	if err := f.Unmount(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%v: unmounted %s; everything written back to %s\n", sig, mnt, backing)
	return nil
}

// checkSocketPath refuses a socket path where no socket can be made: in a
// directory that does not exist, or over something that is not a socket.
func checkSocketPath(socket string) error {
	if info, err := os.Stat(filepath.Dir(socket)); err != nil || !info.IsDir() {
		return usagef("--socket %q: its directory does not exist", socket)
	}
	if info, err := os.Lstat(socket); err == nil && info.Mode().Type() != os.ModeSocket {
		return usagef("--socket %q: exists and is not a socket", socket)
	}
	return nil
}

// writeCrashReport writes r to dir as crash-N.json and says where ("" if
// dir is "").
func writeCrashReport(dir string, r lazyfs.Report) string {
	if dir == "" {
		return ""
	}
	path := filepath.Join(dir, fmt.Sprintf("crash-%d.json", r.Crash))
	b, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		return fmt.Sprintf(" (report not written: %v)", err)
	}
	return "; report " + path
}
