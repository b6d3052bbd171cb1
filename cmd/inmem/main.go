// Command inmem is the command line tool of in-mem, the embedded durable
// database: it reads and writes a database's runs (kv, event, state, runs),
// maintains it (checkpoint, compact, export, import, retention, repair),
// examines it without changing anything on disk (inspect, verify),
// crash-tests it (crash), and serves a lazy filesystem on which any program
// can be crash-tested (lazyfs).
//
//	inmem kv put --dir ./db orders o-17 '{"total": 12}'
//	inmem kv get --dir ./db orders o-17
//	inmem inspect ./db
//	inmem verify --encryption-key-file key.hex ./db
//
// Every command takes the database directory as --dir DIR (inspect and
// verify also as an argument), prints human-readable text or, with --json,
// JSON, and exits with 0 on success, 1 on an error, 2 on a usage error, 3
// when the database is corrupt and 4 when the directory holds no database. See root.go for how subcommands are added.
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
