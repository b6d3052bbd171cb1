// Package crashtargets adapts other embedded engines to crashtest.Target,
// so in-mem's crash testers (real kills, the ext4 power cut, the barrier
// explorer) can be pointed at engines whose guarantees are well known. It is
// a module of its own: the main module never depends on bbolt, SQLite,
// goleveldb, Pebble or Badger.
//
// Each engine comes in a power-safe configuration and an unsafe one:
//
//	bbolt             fdatasync at every commit (the default)
//	bbolt-nosync      NoSync: true; commits reach the OS, never the disk
//	sqlite            WAL journal, synchronous=FULL: the WAL is synced at every commit
//	sqlite-off        WAL journal, synchronous=OFF: SQLite never syncs
//	goleveldb         every write with WriteOptions.Sync
//	goleveldb-nosync  writes without Sync: the journal reaches the OS only
//	pebble            every write with pebble.Sync
//	pebble-nosync     writes with pebble.NoSync: acknowledged in the process's WAL buffer,
//	                  so not even a process kill is survived
//	badger            SyncWrites: true
//	badger-nosync     SyncWrites: false
//
// A harness that cannot tell each pair apart under a power loss is broken;
// under a process kill, all of them must keep every acknowledged write.
// Every adapter declares what its configuration promises (crashtest.Caps):
// all of them write batches atomically and can be reopened in one process;
// none claims that a crash during the store's first creation leaves a
// store that opens.
//
// The target executable (cmd/crashtarget) serves them, and in-mem's own
// configurations, over the target protocol (docs/target-protocol.md) to
// `inmem crash kill|kernel|barriers --target ... --target-binary`:
//
//	go -C crashtargets build -o /tmp/crashtarget ./cmd/crashtarget
//
// goleveldb is also built at the version before and the version after its
// PR #351 (the new MANIFEST synced before CURRENT names it), in the nested
// modules goleveldb-buggy and goleveldb-fixed, as a known-bug example; the
// adapter both share is the module leveldbtarget.
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

	"github.com/in-mem/inmem/crashtargets/leveldbtarget"
	"github.com/in-mem/inmem/crashtest"
)

// Targets returns the configurations above.
func Targets() []crashtest.TargetConfig {
	out := []crashtest.TargetConfig{
		{Name: "bbolt", Caps: caps(true), About: "bbolt, fdatasync at every commit",
			Open: func(dir string) (crashtest.Target, error) { return openBolt(dir, false) }},
		{Name: "bbolt-nosync", Caps: caps(false), About: "bbolt with NoSync: true",
			Open: func(dir string) (crashtest.Target, error) { return openBolt(dir, true) }},
		{Name: "sqlite", Caps: caps(true), About: "SQLite (modernc.org/sqlite), WAL, synchronous=FULL",
			Open: func(dir string) (crashtest.Target, error) { return openSQLite(dir, "FULL") }},
		{Name: "sqlite-off", Caps: caps(false), About: "SQLite (modernc.org/sqlite), WAL, synchronous=OFF",
			Open: func(dir string) (crashtest.Target, error) { return openSQLite(dir, "OFF") }},
	}
	out = append(out, leveldbtarget.Targets("goleveldb", "")...)
	out = append(out, pebbleTargets()...)
	return append(out, badgerTargets()...)
}

// All returns Targets and in-mem's own (crashtest.InmemTargets), as the
// target executable serves them.
func All() []crashtest.TargetConfig { return append(Targets(), crashtest.InmemTargets()...) }

// caps are the capabilities of every adapter here: atomic batches, reopen
// in one process, every acknowledged write in the operating system's hands
// (process safe), and power safety as the configuration says.
func caps(powerSafe bool) crashtest.Caps {
	return crashtest.Caps{PowerSafe: powerSafe, ProcessSafe: true, AtomicBatch: true, Reopen: true}
}

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

func (t *boltTarget) Delete(key []byte) error {
	return t.Batch([]crashtest.BatchOp{{Delete: true, Key: key}})
}

// Batch writes every op in one read-write transaction: one commit.
func (t *boltTarget) Batch(ops []crashtest.BatchOp) error {
	return t.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, op := range ops {
			var err error
			if op.Delete {
				err = b.Delete(op.Key)
			} else {
				err = b.Put(op.Key, op.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
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

func (t *sqliteTarget) Delete(key []byte) error {
	_, err := t.db.Exec(`DELETE FROM kv WHERE k = ?`, string(key))
	return err
}

// Batch writes every op in one transaction.
func (t *sqliteTarget) Batch(ops []crashtest.BatchOp) error {
	tx, err := t.db.Begin()
	if err != nil {
		return err
	}
	for _, op := range ops {
		if op.Delete {
			_, err = tx.Exec(`DELETE FROM kv WHERE k = ?`, string(op.Key))
		} else {
			_, err = tx.Exec(`INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)`, string(op.Key), op.Value)
		}
		if err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	return tx.Commit()
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
