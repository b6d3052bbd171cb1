package inmem

import "time"

// VerifyReport is what Verify recovered.
type VerifyReport struct {
	Dir        string  `json:"dir"`
	SnapshotID uint64  `json:"snapshot_id"` // the snapshot recovery started from (0: none)
	Watermark  Version `json:"watermark"`
	Segments   int     `json:"segments"` // log segments read
	Records    int     `json:"records"`  // log records replayed above the watermark
	// What the recovered database holds.
	Runs        int     `json:"runs"`
	Keys        int     `json:"keys"`
	Versions    int     `json:"versions"`
	Events      int     `json:"events"`
	Cells       int     `json:"cells"`
	LastVersion Version `json:"last_version"`
	// TornTail says the log ends in a torn tail, which Open would cut off:
	// TornBytes bytes of TornSegment from TornOffset on (the whole segment
	// if HeaderTorn). It is what a power loss leaves, not corruption.
	TornTail    bool          `json:"torn_tail"`
	TornSegment string        `json:"torn_segment,omitempty"`
	TornOffset  int64         `json:"torn_offset,omitempty"`
	TornBytes   int64         `json:"torn_bytes,omitempty"`
	HeaderTorn  bool          `json:"header_torn,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
}

// Verify recovers the database in dir into memory, exactly as Open would,
// and reports what it holds. It opens the database read-only (see
// Options.ReadOnly), so it changes nothing on disk and works on read-only
// media: a torn tail is reported, not cut. Damage Open would refuse is
// returned as a *CorruptionError (errors.Is ErrCorrupt) naming file, offset
// and reason, with the report so far. A directory holding no database
// (nothing, or a creation cut short) gives ErrNotDatabase.
//
// Verify takes the database's shared lock, if its LOCK file exists, so a
// database another process has open for writing fails with ErrLocked
// rather than being read while it changes.
//
// opts supplies FS (where the database is), Codec or EncryptionKey,
// MaxRecordSize and Durability; nil means the defaults. Recovery is always
// RecoverStrict and CrashPoints are not used.
func Verify(dir string, opts *Options) (*VerifyReport, error) {
	o, err := opts.prepare()
	if err != nil {
		return nil, err
	}
	if o.Durability == InMemory || dir == "" {
		return nil, invalidf("Verify needs a database directory")
	}
	start := time.Now()
	rep := &VerifyReport{Dir: dir}
	// NB: o is prepared: its Codec holds the key, and Open refuses both set.
	o.ReadOnly, o.Recovery, o.CrashPoints, o.EncryptionKey = true, RecoverStrict, nil, nil
	db, err := Open(dir, &o)
	if err != nil {
		return rep, err
	}
	defer db.Close()
	rep.fill(db)
	rep.Duration = time.Since(start)
	return rep, db.Close()
}

func (rep *VerifyReport) fill(db *DB) {
	rec := db.Recovery()
	rep.SnapshotID, rep.Watermark = rec.SnapshotID, rec.Watermark
	rep.Segments, rep.Records = rec.Segments, rec.Records
	rep.TornTail = rec.TornSegment != ""
	rep.TornSegment, rep.TornOffset, rep.TornBytes, rep.HeaderTorn = rec.TornSegment, rec.TornOffset, rec.TornBytes, rec.HeaderTorn
	rep.LastVersion = db.LastVersion()
	rep.Runs, rep.Keys, rep.Versions, rep.Events, rep.Cells = db.store.Counts(uint64(rep.LastVersion))
}
