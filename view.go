package inmem

// View is a read-only view of the database, valid only during the call of
// DB.View that made it. Each read sees every acknowledged commit, as the
// DB's own reads do.
//
// The byte slices a View returns are borrowed, as in bbolt's View: they
// are the database's own memory, not copies. They are valid only until the
// function given to View returns, and must not be changed; copy what you
// keep. In exchange a read costs no allocation and no copy of the value.
type View struct {
	db *DB
}

// View calls fn with a view of the database and returns what fn returns.
// Use it for reads without copies (see View); the DB's read methods return
// copies instead.
func (db *DB) View(fn func(*View) error) error {
	if err := db.readable(); err != nil {
		return err
	}
	return fn(&db.view)
}

// KVGet returns the latest value of key and its version, borrowed (see
// View), or ErrNotFound itself (not wrapped: no allocation) if the key
// does not exist or is deleted, or ErrRunNotFound if the run does not.
func (v *View) KVGet(run RunID, key string) ([]byte, Version, error) {
	db := v.db
	r, ok := db.store.Run(run, db.visible.Load())
	if !ok {
		return nil, 0, ErrRunNotFound
	}
	val, ver, ok := r.KVLatest(key, &db.visible)
	if !ok {
		return nil, 0, ErrNotFound
	}
	return val, Version(ver), nil
}
