package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newImportCmd) }

// importJSON is the JSON output of import.
type importJSON struct {
	From        string        `json:"from"`
	Dir         string        `json:"dir"`
	InPlace     bool          `json:"in_place"`
	Runs        int           `json:"runs"`
	LastVersion inmem.Version `json:"last_version"`
}

func newImportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import EXPORT",
		Short: "Check an export and make it a database: in --dir DIR (a copy), or in place",
		Long: `Check that EXPORT is a complete export (what inmem export writes: its EXPORT
marker, every file it lists with its size and checksum) and make a database
of it.

With --dir DIR (which must not exist or be empty) EXPORT is copied into DIR
and the copy is opened there: EXPORT stays as it is and can be imported
again. Without --dir, EXPORT itself becomes the database; use --dir EXPORT
with the other commands from then on.

An export that is incomplete (an export or a copy that did not finish)
fails with exit status 1 and a damaged one with exit status 3; nothing is
created or changed then.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dst := args[0], g.dir
			inPlace := dst == "" || filepath.Clean(dst) == filepath.Clean(src)
			if inPlace {
				dst = src
			}
			opts, err := g.options()
			if err != nil {
				return err
			}
			if !inPlace {
				if err := inmem.CopyExport(src, dst, opts); err != nil {
					return fmt.Errorf("import %s into %s: %w", src, dst, err)
				}
			}
			out, err := importDB(g, dst, opts)
			if err != nil {
				return err
			}
			out.From, out.InPlace = src, inPlace
			return g.output(cmd, out, func(w io.Writer) error { return printImport(w, out) })
		},
	}
}

// importDB imports the export in dir in place and describes the database.
func importDB(g *globals, dir string, opts *inmem.Options) (importJSON, error) {
	db, err := inmem.Import(dir, opts)
	if err != nil {
		return importJSON{}, g.explain("import", dir, err)
	}
	runs, err := db.ListRuns()
	out := importJSON{Dir: dir, Runs: len(runs), LastVersion: db.LastVersion()}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return out, err
}

func printImport(w io.Writer, out importJSON) error {
	how := "copied into " + out.Dir
	if out.InPlace {
		how = "in place"
	}
	_, err := fmt.Fprintf(w, "imported %s %s: %d runs, last version %d; open it with --dir %s\n",
		out.From, how, out.Runs, out.LastVersion, out.Dir)
	return err
}
