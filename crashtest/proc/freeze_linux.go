package proc

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Freeze stops a child (SIGSTOP) and waits until it has stopped or exited:
// from then on it can acknowledge nothing, so a crash cut under it comes
// after every acknowledgement it wrote. A kill follows.
func Freeze(p *os.Process) error {
	if err := p.Signal(unix.SIGSTOP); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return fmt.Errorf("stopping the child: %w", err)
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
		switch {
		case err == nil, errors.Is(err, unix.ECHILD):
			return nil // stopped, or exited (and maybe reaped already)
		case !errors.Is(err, unix.EINTR):
			return fmt.Errorf("waiting for the child to stop: %w", err)
		}
	}
}
