package main

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable, as in-mem's WAL sync does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
