package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite"
)

var sqliteEngine = &Engine{
	Name:         "sqlite",
	Peer:         true,
	DurableMode:  "WAL journal, synchronous=FULL",
	BufferedMode: "WAL journal, synchronous=NORMAL",
	CheckpointOp: "VACUUM INTO a new file (full copy), then fsync",
	Open:         openSQLite,
}

type sqliteStore struct {
	db       *sql.DB
	put, get *sql.Stmt
}

func openSQLite(dir string, o OpenOptions) (Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sync := "FULL"
	if o.Mode == Buffered {
		sync = "NORMAL"
	}
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=busy_timeout(10000)&_pragma=cache_size(%d)",
		filepath.Join(dir, "sqlite.db"), sync, -cacheBytes/1024)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// SQLite has one writer at a time; one connection lets database/sql
	// queue concurrent callers instead of spinning on SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	s := &sqliteStore{db: db}
	if err := s.prepare(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteStore) prepare() error {
	if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	var err error
	if s.put, err = s.db.Prepare(`INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)`); err != nil {
		return err
	}
	s.get, err = s.db.Prepare(`SELECT v FROM kv WHERE k = ?`)
	return err
}

func (s *sqliteStore) Put(k, v []byte) error {
	_, err := s.put.Exec(k, v)
	return err
}

func (s *sqliteStore) Get(k, dst []byte) ([]byte, error) {
	var v sql.RawBytes
	rows, err := s.get.Query(k)
	if err != nil {
		return dst, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return dst, err
		}
		return dst, errNotFound
	}
	if err := rows.Scan(&v); err != nil {
		return dst, err
	}
	return append(dst, v...), rows.Close()
}

func (s *sqliteStore) Close() error {
	s.put.Close()
	s.get.Close()
	return s.db.Close()
}

func (s *sqliteStore) Checkpoint(dst string) error {
	if _, err := s.db.Exec(`VACUUM INTO '` + strings.ReplaceAll(dst, "'", "''") + `'`); err != nil {
		return err
	}
	// NB: VACUUM INTO syncs its output with the source's synchronous
	// setting; sync again so every engine's copy is durable the same way.
	return syncPath(dst)
}
