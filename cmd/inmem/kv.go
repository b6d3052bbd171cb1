package main

import (
	"fmt"
	"io"

	"github.com/in-mem/inmem"
	"github.com/spf13/cobra"
)

func init() { register(newKVCmd) }

func newKVCmd(g *globals) *cobra.Command {
	return newGroupCmd("kv", "Read and write a run's versioned keys",
		newKVPutCmd(g), newKVGetCmd(g), newKVDelCmd(g), newKVHistoryCmd(g), newKVKeysCmd(g))
}

// kvWrite is the JSON output of kv put and kv del.
type kvWrite struct {
	Run     string        `json:"run"`
	Key     string        `json:"key"`
	Version inmem.Version `json:"version"`
}

// kvVersion is one version of a key or cell in JSON output. A deletion has
// no value.
type kvVersion struct {
	Value     *string       `json:"value,omitempty"` // see jsonValue
	Encoding  string        `json:"encoding,omitempty"`
	Version   inmem.Version `json:"version"`
	Timestamp string        `json:"timestamp"`
	Deleted   bool          `json:"deleted,omitempty"`
}

func newKVVersion(v inmem.Versioned) kvVersion {
	out := kvVersion{Version: v.Version, Timestamp: formatTime(v.Timestamp), Deleted: v.Value == nil}
	if !out.Deleted {
		jv := encodeValue(v.Value)
		out.Value, out.Encoding = &jv.Value, jv.Encoding
	}
	return out
}

func newKVPutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "put RUN KEY VALUE",
		Short: "Set KEY to VALUE in RUN (creating the database and the run if needed)",
		Args:  exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, key, value := args[0], args[1], args[2]
			if err := checkKey(run, key); err != nil {
				return err
			}
			return g.withDB(openOrCreate, func(db *inmem.DB) error {
				v, err := db.Commit(func(tx *inmem.Tx) error {
					id, err := tx.GetOrCreateRun(run)
					if err != nil {
						return err
					}
					return tx.KVPut(id, key, []byte(value))
				})
				if err != nil {
					return fmt.Errorf("kv put %q %q: %w", run, key, err)
				}
				return g.output(cmd, kvWrite{run, key, v}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "put %q in run %q at version %d\n", key, run, v)
					return err
				})
			})
		},
	}
}

func newKVGetCmd(g *globals) *cobra.Command {
	var at uint64
	cmd := &cobra.Command{
		Use:   "get RUN KEY",
		Short: "Print the value of KEY (its latest, or as of --version)",
		Long: `Print the value of KEY: the latest one, or with --version V the one the key
had at version V. The text output is the value alone; --json adds its
version and timestamp.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, key := args[0], args[1]
			if err := checkKey(run, key); err != nil {
				return err
			}
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				var v inmem.Versioned
				if cmd.Flags().Changed("version") {
					v, err = db.KVGetAt(id, key, inmem.Version(at))
				} else {
					v, err = db.KVGet(id, key)
				}
				if err != nil {
					return fmt.Errorf("kv get %q %q: %w", run, key, err)
				}
				return g.output(cmd, newKVVersion(v), func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s\n", v.Value)
					return err
				})
			})
		},
	}
	cmd.Flags().Uint64Var(&at, "version", 0, "read the value as of this version")
	return cmd
}

func newKVDelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "del RUN KEY",
		Short: "Delete KEY from RUN (its history stays readable)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, key := args[0], args[1]
			if err := checkKey(run, key); err != nil {
				return err
			}
			return g.withDB(openExisting, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				v, err := db.Commit(func(tx *inmem.Tx) error { return tx.KVDelete(id, key) })
				if err != nil {
					return fmt.Errorf("kv del %q %q: %w", run, key, err)
				}
				return g.output(cmd, kvWrite{run, key, v}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "deleted %q from run %q at version %d\n", key, run, v)
					return err
				})
			})
		},
	}
}

func newKVHistoryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "history RUN KEY",
		Short: "List every retained version of KEY, oldest first",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, key := args[0], args[1]
			if err := checkKey(run, key); err != nil {
				return err
			}
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				hist, err := db.KVHistory(id, key)
				if err != nil {
					return fmt.Errorf("kv history %q %q: %w", run, key, err)
				}
				return g.output(cmd, kvHistoryJSON(run, key, hist), func(w io.Writer) error {
					return printHistory(w, hist)
				})
			})
		},
	}
}

func kvHistoryJSON(run, key string, hist []inmem.Versioned) any {
	vs := make([]kvVersion, len(hist))
	for i, v := range hist {
		vs[i] = newKVVersion(v)
	}
	return struct {
		Run      string      `json:"run"`
		Key      string      `json:"key"`
		Versions []kvVersion `json:"versions"`
	}{run, key, vs}
}

func printHistory(w io.Writer, hist []inmem.Versioned) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "VERSION\tTIMESTAMP\tVALUE")
	for _, v := range hist {
		value := printable(v.Value)
		if v.Value == nil {
			value = "(deleted)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", v.Version, formatTime(v.Timestamp), value)
	}
	return tw.Flush()
}

func newKVKeysCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keys RUN [PREFIX]",
		Short: "List the live keys of RUN (those starting with PREFIX), sorted",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, prefix := args[0], ""
			if len(args) == 2 {
				prefix = args[1]
			}
			if err := checkKey(run, prefix); err != nil {
				return err
			}
			return g.withDB(openReadOnly, func(db *inmem.DB) error {
				id, err := resolve(db, run)
				if err != nil {
					return err
				}
				keys, err := db.KVKeys(id, prefix)
				if err != nil {
					return fmt.Errorf("kv keys %q: %w", run, err)
				}
				out := struct {
					Run    string    `json:"run"`
					Prefix string    `json:"prefix"`
					Keys   []keyJSON `json:"keys"` // binary keys in base64, as values
				}{run, prefix, make([]keyJSON, len(keys))}
				for i, k := range keys {
					out.Keys[i] = encodeKey(k)
				}
				return g.output(cmd, out, func(w io.Writer) error {
					for _, k := range keys {
						if _, err := fmt.Fprintln(w, printable([]byte(k))); err != nil {
							return err
						}
					}
					return nil
				})
			})
		},
	}
}
