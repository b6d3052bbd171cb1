// Package crashtargets adapts other embedded engines to crashtest.Target,
// so in-mem's crash testers (real kills, the ext4 power cut, the barrier
// explorer) can be pointed at engines whose guarantees are well known. It is
// a module of its own: the main module never depends on bbolt or SQLite.
//
// Each engine comes in a power-safe configuration and an unsafe one:
//
//	bbolt           fdatasync at every commit (the default)
//	bbolt-nosync    NoSync: true; commits reach the OS, never the disk
//	sqlite          WAL journal, synchronous=FULL: the WAL is synced at every commit
//	sqlite-off      WAL journal, synchronous=OFF: SQLite never syncs
//
// A harness that cannot tell each pair apart under a power loss is broken;
// under a process kill, all four must keep every acknowledged put.
//
// The child binary (cmd/crashtarget) serves them, and in-mem's own
// configurations, to `inmem crash kernel|barriers --target ...
// --target-binary`:
//
//	go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget
package crashtargets

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/in-mem/inmem/crashtest"
)

// Targets returns the four configurations above.
func Targets() []crashtest.TargetConfig {
	return []crashtest.TargetConfig{
		{Name: "bbolt", PowerSafe: true, About: "bbolt, fdatasync at every commit",
			Open: func(dir string) (crashtest.Target, error) { return openBolt(dir, false) }},
		{Name: "bbolt-nosync", About: "bbolt with NoSync: true",
			Open: func(dir string) (crashtest.Target, error) { return openBolt(dir, true) }},
		{Name: "sqlite", PowerSafe: true, About: "SQLite (modernc.org/sqlite), WAL, synchronous=FULL",
			Open: func(dir string) (crashtest.Target, error) { return openSQLite(dir, "FULL") }},
		{Name: "sqlite-off", About: "SQLite (modernc.org/sqlite), WAL, synchronous=OFF",
			Open: func(dir string) (crashtest.Target, error) { return openSQLite(dir, "OFF") }},
	}
}

// All returns Targets and in-mem's own (crashtest.InmemTargets), as the
// child binary serves them.
func All() []crashtest.TargetConfig { return append(Targets(), crashtest.InmemTargets()...) }

var bucket = []byte("kv")

type boltTarget struct{ db *bolt.DB }

func openBolt(dir string, noSync bool) (crashtest.Target, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{Timeout: 10 * time.Second, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	return &boltTarget{db: db}, nil
}

func (t *boltTarget) Put(key, value []byte) error {
	return t.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) })
}

func (t *boltTarget) Get(key []byte) ([]byte, bool, error) {
	var v []byte
	err := t.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return errors.New("bbolt: the bucket is gone")
		}
		if got := b.Get(key); got != nil {
			v = append([]byte{}, got...) // valid only inside the transaction
		}
		return nil
	})
	return v, v != nil, err
}

func (t *boltTarget) Sync() error  { return t.db.Sync() }
func (t *boltTarget) Close() error { return t.db.Close() }

type sqliteTarget struct{ db *sql.DB }

// openSQLite opens dir/kv.sqlite in WAL mode with the given synchronous
// setting, on one connection (writers serialize, as in bbolt).
func openSQLite(dir, synchronous string) (crashtest.Target, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=busy_timeout(10000)",
		filepath.Join(dir, "kv.sqlite"), synchronous)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var got string
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&got); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if want := map[string]string{"OFF": "0", "FULL": "2"}[synchronous]; got != want {
		db.Close()
		return nil, fmt.Errorf("sqlite: synchronous is %s, want %s (%s)", got, want, synchronous)
	}
	return &sqliteTarget{db: db}, nil
}

func (t *sqliteTarget) Put(key, value []byte) error {
	_, err := t.db.Exec(`INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)`, string(key), value)
	return err
}

func (t *sqliteTarget) Get(key []byte) ([]byte, bool, error) {
	var v []byte
	err := t.db.QueryRow(`SELECT v FROM kv WHERE k = ?`, string(key)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Sync checkpoints the WAL into the database file: with synchronous=FULL
// SQLite syncs both; with OFF it syncs nothing, which is the point.
func (t *sqliteTarget) Sync() error {
	_, err := t.db.Exec(`PRAGMA wal_checkpoint(FULL)`)
	return err
}

func (t *sqliteTarget) Close() error { return t.db.Close() }
