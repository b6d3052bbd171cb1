// Command lazyrename saves a file the way many programs do: it writes the
// new content to NAME.tmp, syncs it, and renames it over NAME. Without
// --sync-dir it never syncs the directory, so the rename is not durable:
// after a power loss NAME may be missing or old, though the program said
// "saved". Run on a lazy filesystem (inmem lazyfs mount), a crash shows
// it; with --sync-dir nothing is lost.
//
//	lazyrename [--sync-dir] DIR NAME CONTENT
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	syncDir := flag.Bool("sync-dir", false, "sync the directory after the rename, making it durable")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: lazyrename [--sync-dir] DIR NAME CONTENT")
		os.Exit(2)
	}
	if err := save(flag.Arg(0), flag.Arg(1), []byte(flag.Arg(2)), *syncDir); err != nil {
		fmt.Fprintln(os.Stderr, "lazyrename:", err)
		os.Exit(1)
	}
	fmt.Println("saved")
}

// save replaces dir/name with data through a temporary file.
func save(dir, name string, data []byte, syncDir bool) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	if !syncDir {
		return nil // the bug: the rename lives in the page cache only
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
