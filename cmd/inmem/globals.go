package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

// globals holds the flags every subcommand shares.
type globals struct {
	dir        string
	json       bool
	keyFile    string
	durability string
}

func (g *globals) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.dir, "dir", "", "database directory")
	f.BoolVar(&g.json, "json", false, "print JSON instead of text")
	f.StringVar(&g.keyFile, "encryption-key-file", "", "file holding the database's 32-byte AES-256 key, raw or as 64 hex digits")
	f.StringVar(&g.durability, "durability", "strict", "durability of writes: strict or buffered")
}

// options builds the inmem.Options the flags ask for.
func (g *globals) options() (*inmem.Options, error) {
	o := &inmem.Options{}
	switch g.durability {
	case "", "strict":
		o.Durability = inmem.Strict
	case "buffered":
		o.Durability = inmem.Buffered
	default:
		return nil, usagef("--durability %q: want strict or buffered", g.durability)
	}
	if g.keyFile != "" {
		key, err := readKeyFile(g.keyFile)
		if err != nil {
			return nil, err
		}
		o.EncryptionKey = key
	}
	return o, nil
}

// readKeyFile reads an AES-256 key: a file of exactly 32 bytes is the raw
// key; otherwise it must hold 64 hex digits (surrounding space allowed).
// NB: 32 hex digits are refused, not taken as a raw key: they are far more
// likely a 16-byte key in hex (a random raw key is all hex digits with
// probability (22/256)^32).
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	if _, err := hex.DecodeString(string(b)); len(b) == 32 && err != nil {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("%w: encryption key file %s holds %d bytes: want 32 raw bytes or 64 hex digits",
		inmem.ErrInvalid, path, len(b))
}

// requireDir returns --dir, or a usage error if it is missing.
func (g *globals) requireDir() (string, error) {
	if g.dir == "" {
		return "", usagef("--dir DIR is required")
	}
	return g.dir, nil
}

// dirArg returns the directory given as the optional positional argument
// or as --dir.
func (g *globals) dirArg(args []string) (string, error) {
	if len(args) == 0 {
		return g.requireDir()
	}
	if g.dir != "" && filepath.Clean(g.dir) != filepath.Clean(args[0]) {
		return "", usagef("two directories given: --dir %s and %s", g.dir, args[0])
	}
	return args[0], nil
}

// openMode says how a command opens the database.
type openMode uint8

const (
	openOrCreate openMode = iota // commands that write and may create it
	openExisting                 // commands that change an existing one
	openReadOnly                 // commands that only read: read-only media work too
)

// withDB opens the database, runs fn and closes the database, returning
// the first error.
func (g *globals) withDB(mode openMode, fn func(*inmem.DB) error) (err error) {
	db, err := g.open(mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", db.Dir(), cerr)
		}
	}()
	return fn(db)
}

func (g *globals) open(mode openMode) (*inmem.DB, error) {
	dir, err := g.requireDir()
	if err != nil {
		return nil, err
	}
	opts, err := g.options()
	if err != nil {
		return nil, err
	}
	opts.MustExist = mode == openExisting
	opts.ReadOnly = mode == openReadOnly
	db, err := inmem.Open(dir, opts)
	if err != nil {
		return nil, g.explainOpen(dir, err)
	}
	return db, nil
}

// explainOpen adds what the user can do about an Open error.
func (g *globals) explainOpen(dir string, err error) error { return g.explain("open", dir, err) }

// explain adds to an error of what (open, verify) on dir what the user can
// do about it. Errors that name the directory or file already (no
// database, corruption) are returned as they are: a prefix would repeat it.
func (g *globals) explain(what, dir string, err error) error {
	switch {
	case errors.Is(err, inmem.ErrLocked):
		return fmt.Errorf("%s %s: another process has the database open for writing: %w", what, dir, err)
	case errors.Is(err, inmem.ErrNotDatabase), errors.Is(err, inmem.ErrCorrupt):
		return err
	}
	return fmt.Errorf("%s %s: %w", what, dir, g.explainKey(err))
}

// explainKey adds a hint to a codec mismatch: the key is missing or wrong.
func (g *globals) explainKey(err error) error {
	switch {
	case !errors.Is(err, inmem.ErrCodecMismatch):
		return err
	case g.keyFile == "":
		return fmt.Errorf("the database is encrypted; pass --encryption-key-file: %w", err)
	}
	return fmt.Errorf("the key in %s does not match the database's codec: %w", g.keyFile, err)
}

// output prints v as JSON with --json, or calls text otherwise.
func (g *globals) output(cmd *cobra.Command, v any, text func(w io.Writer) error) error {
	w := cmd.OutOrStdout()
	if g.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(w)
}

// checkRun, checkKey and checkCell refuse, as usage errors and before the
// database is opened (a command that would create the database must not,
// for a write it refuses), what the database would refuse: an empty run or
// cell name, or a name or key longer than inmem.MaxKeySize. A key may be
// empty.
func checkRun(run string) error {
	if run == "" {
		return invalidArg("empty run name")
	}
	return checkSize("run name", run)
}

func checkKey(run, key string) error {
	if err := checkRun(run); err != nil {
		return err
	}
	return checkSize("key", key)
}

func checkCell(run, cell string) error {
	if err := checkRun(run); err != nil {
		return err
	}
	if cell == "" {
		return invalidArg("empty cell name")
	}
	return checkSize("cell name", cell)
}

// invalidArg is a usage error that also matches inmem.ErrInvalid.
func invalidArg(format string, args ...any) error {
	return &usageError{fmt.Errorf("%w: %s", inmem.ErrInvalid, fmt.Sprintf(format, args...))}
}

func checkSize(what, s string) error {
	if len(s) > inmem.MaxKeySize {
		return invalidArg("%s of %d bytes is above %d", what, len(s), inmem.MaxKeySize)
	}
	return nil
}

// resolve returns the id of an existing run.
func resolve(db *inmem.DB, run string) (inmem.RunID, error) {
	id, err := db.ResolveRun(run)
	if err != nil {
		return id, fmt.Errorf("run %q: %w", run, err)
	}
	return id, nil
}
