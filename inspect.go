package inmem

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// InspectReport describes a database directory as it is on disk. Inspect
// fills it by reading files only: it takes no lock and changes nothing, so
// it works on a damaged database, and on one another process has open (the
// files may then change while they are read).
type InspectReport struct {
	Dir string `json:"dir"`
	// Manifest is the decoded MANIFEST; nil if it is missing or damaged,
	// and ManifestError then says why.
	Manifest      *ManifestInfo `json:"manifest,omitempty"`
	ManifestError string        `json:"manifest_error,omitempty"`
	// CodecMatches says the codec (or encryption key) Inspect was given is
	// the one the MANIFEST names. Snapshot contents are checked only then.
	CodecMatches bool               `json:"codec_matches"`
	Snapshots    []SnapshotFileInfo `json:"snapshots"`
	Segments     []SegmentFileInfo  `json:"segments"`
	TempFiles    []TempFileInfo     `json:"temp_files"`
	// LastTxn is the last txn id recovery reaches: that of the last valid
	// log record, or the snapshot's watermark if the log holds none above it.
	LastTxn Version    `json:"last_txn"`
	Tail    TailStatus `json:"tail"`
	// Reclaimable is what Compact would remove, in bytes: segments before
	// the MANIFEST's active segment, snapshots it does not name, temp files.
	Reclaimable int64 `json:"reclaimable_bytes"`
	// Corruption is the first damage that makes Open refuse the database
	// (MANIFEST, current snapshot or log), nil if Inspect saw none. Inspect
	// does not decode log records, so Verify can find more.
	Corruption *CorruptionError `json:"-"`
}

// ManifestInfo is the decoded MANIFEST.
type ManifestInfo struct {
	UUID          string  `json:"uuid"` // hex
	Codec         string  `json:"codec"`
	ActiveSegment uint64  `json:"active_segment"`
	SnapshotID    uint64  `json:"snapshot_id"` // 0: none
	Watermark     Version `json:"watermark"`
	Size          int64   `json:"size"`
	// LogEnd is the durable end of the log the MANIFEST records: the log
	// must reach it. Nil if the MANIFEST records none (format version 1).
	LogEnd *LogEndInfo `json:"log_end,omitempty"`
}

// LogEndInfo is a place in the log: byte Offset of segment Segment, after
// the record of txn Txn.
type LogEndInfo struct {
	Segment uint64  `json:"segment"`
	Offset  int64   `json:"offset"`
	Txn     Version `json:"txn"`
}

// SnapshotFileInfo describes one snapshot file.
type SnapshotFileInfo struct {
	Name string `json:"name"`
	ID   uint64 `json:"id"`
	Size int64  `json:"size"`
	// Watermark and Codec come from the file's header (zero if unreadable).
	Watermark Version `json:"watermark"`
	Codec     string  `json:"codec"`
	// Current says the MANIFEST names it; recovery ignores the others and
	// Compact removes them.
	Current bool `json:"current"`
	// Checked says every block was read and its checksum and codec checked;
	// false if the codec was not given or damage stopped the read.
	Checked bool `json:"checked"`
	// Damage says where and why the file is damaged ("offset N: reason"),
	// as for segments.
	Damage string           `json:"damage,omitempty"`
	damage *CorruptionError // the same, for Corruption
}

// SegmentFileInfo describes one WAL segment file.
type SegmentFileInfo struct {
	Num      uint64  `json:"num"`
	Name     string  `json:"name"`
	Size     int64   `json:"size"`
	Records  int     `json:"records"`   // valid records, up to any damage
	FirstTxn Version `json:"first_txn"` // 0 if it holds no valid record
	LastTxn  Version `json:"last_txn"`
	ValidEnd int64   `json:"valid_end"` // end of the last valid record
	// Obsolete: before the MANIFEST's active segment, so recovery skips it
	// and Compact removes it. AfterDamage: after damage in the log, so
	// recovery never reads it.
	Obsolete    bool   `json:"obsolete,omitempty"`
	AfterDamage bool   `json:"after_damage,omitempty"`
	Damage      string `json:"damage,omitempty"`
}

// TempFileInfo is a leftover temp file, which Compact removes.
type TempFileInfo struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// TailState classifies the end of the log.
type TailState string

// Tail states.
const (
	// TailClean: the log ends with a complete, valid record (or header).
	TailClean TailState = "clean"
	// TailTorn: the unsynced end of the last segment is damaged, as a power
	// loss leaves it; recovery cuts it off.
	TailTorn TailState = "torn"
	// TailCorrupt: damage to durable data; Open refuses the database.
	TailCorrupt TailState = "corrupt"
)

// TailStatus says how the log ends.
type TailStatus struct {
	State TailState `json:"state"`
	// File and Offset locate the damage; for a torn tail Offset is where
	// recovery cuts, and Bytes how much it cuts. Offset is -1 if the damage
	// is a missing file.
	File       string `json:"file,omitempty"`
	Offset     int64  `json:"offset"`
	Bytes      int64  `json:"bytes,omitempty"`
	HeaderTorn bool   `json:"header_torn,omitempty"` // recovery removes the segment
	Reason     string `json:"reason,omitempty"`
}

// String describes the status as the inspect command prints it.
func (t TailStatus) String() string {
	switch t.State {
	case TailTorn:
		if t.HeaderTorn {
			return fmt.Sprintf("torn: the header of %s never became durable (%d bytes; recovery removes the file): %s", t.File, t.Bytes, t.Reason)
		}
		return fmt.Sprintf("torn at offset %d of %s (%d bytes would be cut): %s", t.Offset, t.File, t.Bytes, t.Reason)
	case TailCorrupt:
		if t.Offset < 0 {
			return fmt.Sprintf("corrupt at file %s: %s", t.File, t.Reason)
		}
		return fmt.Sprintf("corrupt at file %s offset %d: %s", t.File, t.Offset, t.Reason)
	}
	return string(TailClean)
}

// Inspect reads the database in dir and describes its files: the MANIFEST,
// the snapshots, every WAL segment, how the log ends and what Compact could
// reclaim. It only reads (no lock, no recovery, no truncation), so it works
// on a damaged database and on read-only media; damage is reported in the
// InspectReport, not as an error. The error is for a directory that holds
// no database (ErrNotDatabase, as Verify and read-only opens say: nothing,
// or a creation cut short) and for files that cannot be read. opts supplies FS,
// Codec or EncryptionKey and MaxRecordSize; nil means the defaults.
func Inspect(dir string, opts *Options) (*InspectReport, error) {
	o, err := opts.prepare()
	if err != nil {
		return nil, err
	}
	if o.Durability == InMemory || dir == "" {
		return nil, invalidf("Inspect needs a database directory")
	}
	in := &inspector{o: o, dir: dir, r: &InspectReport{Dir: dir}}
	if err := in.run(); err != nil {
		return nil, err
	}
	return in.r, nil
}

// inspector holds what Inspect learns as it goes.
type inspector struct {
	o   Options
	dir string
	r   *InspectReport
	m   *manifest.Manifest // nil if unreadable
}

func (in *inspector) walDir() string  { return filepath.Join(in.dir, wal.DirName) }
func (in *inspector) snapDir() string { return filepath.Join(in.dir, snapshot.DirName) }

func (in *inspector) run() error {
	if err := in.readManifest(); err != nil {
		return err
	}
	if in.m == nil && in.r.ManifestError == "" {
		// No MANIFEST: no database, unless it lost its MANIFEST (corruption,
		// which the files below show).
		if err := noManifest(in.o, in.dir); !errors.Is(err, ErrCorrupt) {
			return err
		}
	}
	nums, err := wal.ListSegments(in.o.FS, in.walDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	snaps, err := listOptional(in.o.FS, in.snapDir())
	if err != nil {
		return err
	}
	if err := in.inspectSnapshots(snaps); err != nil {
		return err
	}
	if err := in.inspectLog(nums); err != nil {
		return err
	}
	if in.m == nil && in.r.ManifestError == "" {
		in.missingManifest()
	}
	if err := in.inspectTemps(snaps); err != nil {
		return err
	}
	in.sumReclaimable()
	return nil
}

// missingManifest judges a directory without a MANIFEST but with log
// records or snapshots (run returned ErrNotDatabase for any other): the
// MANIFEST was lost, which is corruption, as Open says.
func (in *inspector) missingManifest() {
	in.r.ManifestError = "MANIFEST is missing"
	// NB: this outranks damage found in the log, as it does in Open.
	in.r.Corruption = nil
	in.corrupt(filepath.Join(in.dir, manifest.FileName), -1, "MANIFEST is missing but log records or snapshots exist")
}

// corrupt records the first damage that makes Open refuse the database.
func (in *inspector) corrupt(file string, off int64, format string, args ...any) {
	if in.r.Corruption == nil {
		in.r.Corruption = &CorruptionError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
}

// listOptional lists dir; a missing dir lists as empty.
func listOptional(fsys vfs.FS, dir string) ([]string, error) {
	names, err := fsys.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return names, err
}

func (in *inspector) readManifest() error {
	path := filepath.Join(in.dir, manifest.FileName)
	data, err := vfs.ReadFile(in.o.FS, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // run decides whether this is a database at all
	}
	if err != nil {
		return err
	}
	m, err := manifest.Decode(path, data)
	if err != nil {
		in.r.ManifestError = err.Error()
		var ce *CorruptionError
		if errors.As(err, &ce) {
			in.corrupt(ce.File, ce.Offset, "%s", ce.Reason)
		}
		return nil
	}
	in.m = &m
	in.r.Manifest = &ManifestInfo{
		UUID: hex.EncodeToString(m.UUID[:]), Codec: m.CodecID, ActiveSegment: m.ActiveSegment,
		SnapshotID: m.SnapshotID, Watermark: Version(m.Watermark), Size: int64(len(data)),
	}
	if e := m.LogEnd; e.Known() {
		in.r.Manifest.LogEnd = &LogEndInfo{Segment: e.Segment, Offset: e.Offset, Txn: Version(e.Txn)}
	}
	in.r.CodecMatches = m.CodecID == in.o.Codec.ID()
	return nil
}

// inspectSnapshots describes every snapshot file and checks the current one
// against the MANIFEST as recovery does.
func (in *inspector) inspectSnapshots(names []string) error {
	found := false
	for _, n := range names {
		id, ok := snapshot.ParseFileName(n)
		if !ok {
			continue
		}
		info, err := in.inspectSnapshot(n, id)
		if err != nil {
			return err
		}
		if info.Current {
			found = true
			in.checkCurrent(&info)
		}
		in.r.Snapshots = append(in.r.Snapshots, info)
	}
	if in.m != nil && in.m.SnapshotID != 0 && !found {
		in.corrupt(filepath.Join(in.snapDir(), snapshot.FileName(in.m.SnapshotID)), -1,
			"snapshot %d named by the MANIFEST is missing", in.m.SnapshotID)
	}
	return nil
}

func (in *inspector) inspectSnapshot(name string, id uint64) (SnapshotFileInfo, error) {
	path := filepath.Join(in.snapDir(), name)
	info := SnapshotFileInfo{Name: name, ID: id, Current: in.m != nil && in.m.SnapshotID == id}
	fi, err := in.o.FS.Stat(path)
	if err != nil {
		return info, err
	}
	info.Size = fi.Size()
	f, err := in.o.FS.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	sr, h, err := snapshot.NewReader(io.NewSectionReader(f, 0, info.Size), path, in.o.Codec)
	if err != nil {
		return info, info.damaged(err)
	}
	info.Watermark, info.Codec = Version(h.Watermark), h.CodecID
	if h.CodecID != in.o.Codec.ID() {
		return info, nil // its blocks cannot be decoded with the codec given
	}
	if _, err := io.Copy(io.Discard, sr); err != nil {
		return info, info.damaged(err)
	}
	info.Checked = true
	return info, nil
}

// damaged records a corruption and returns nil, or returns any other error
// (a file that cannot be read). NB: Damage holds the offset and reason, not
// the error's text, which names the file again.
func (info *SnapshotFileInfo) damaged(err error) error {
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return err
	}
	info.damage = ce
	info.Damage = ce.Reason
	if ce.Offset >= 0 {
		info.Damage = fmt.Sprintf("offset %d: %s", ce.Offset, ce.Reason)
	}
	if ce.Err != nil {
		info.Damage += ": " + ce.Err.Error()
	}
	return nil
}

// checkCurrent applies recovery's checks to the snapshot the MANIFEST names.
func (in *inspector) checkCurrent(info *SnapshotFileInfo) {
	path := filepath.Join(in.snapDir(), info.Name)
	m := in.m
	switch {
	case info.damage != nil:
		if in.r.Corruption == nil {
			in.r.Corruption = info.damage
		}
	case info.ID != m.SnapshotID || info.Watermark != Version(m.Watermark) || info.Codec != m.CodecID:
		info.Damage = fmt.Sprintf("header (watermark %d, codec %q) does not match the MANIFEST (watermark %d, codec %q)",
			info.Watermark, info.Codec, m.Watermark, m.CodecID)
		in.corrupt(path, 0, "snapshot %s", info.Damage)
	}
}

// inspectLog scans the log as recovery would (without applying anything)
// and describes every segment file, including those recovery skips.
func (in *inspector) inspectLog(nums []uint64) error {
	if len(nums) == 0 && in.m == nil {
		in.r.Tail = TailStatus{State: TailClean}
		return nil
	}
	uuid, first, watermark, ok, err := in.logStart(nums)
	var end wal.Position
	if in.m != nil {
		end = positionOf(in.m.LogEnd)
	}
	if err != nil {
		return err
	}
	if !ok {
		path := filepath.Join(in.walDir(), wal.SegmentName(first))
		in.r.Tail = TailStatus{State: TailCorrupt, File: path, Offset: 0,
			Reason: "without a MANIFEST, the log's start is unknown: the first segment's header is unreadable"}
		in.corrupt(path, 0, "%s", in.r.Tail.Reason)
		return in.describeSegments(nums, first, uuid, &wal.ScanResult{})
	}
	res, err := wal.Scan(wal.ScanOptions{
		FS: in.o.FS, Dir: in.walDir(), UUID: uuid, MaxRecordSize: in.o.MaxRecordSize - 4,
		FirstSegment: first, DurableEnd: end, Apply: continuity(watermark, in.m != nil),
	})
	if errors.Is(err, fs.ErrNotExist) && len(nums) == 0 {
		in.r.Tail = TailStatus{State: TailCorrupt, File: in.walDir(), Offset: -1, Reason: "the WAL directory is missing"}
		in.corrupt(in.walDir(), -1, "the WAL directory is missing")
		return nil
	}
	if err != nil {
		return err
	}
	in.r.LastTxn = Version(max(res.LastTxn, watermark))
	in.setTail(res)
	return in.describeSegments(nums, first, uuid, res)
}

// logStart returns where the log starts: from the MANIFEST, or, without
// one, from the first segment's header.
func (in *inspector) logStart(nums []uint64) (uuid [16]byte, first, watermark uint64, ok bool, err error) {
	if in.m != nil {
		return in.m.UUID, in.m.ActiveSegment, in.m.Watermark, true, nil
	}
	data, err := vfs.ReadFile(in.o.FS, filepath.Join(in.walDir(), wal.SegmentName(nums[0])))
	if err != nil {
		return uuid, nums[0], 0, false, err
	}
	h, err := wal.DecodeHeader(data)
	return h.UUID, nums[0], 0, err == nil, nil
}

// continuity returns the scan's Apply: like recovery, it insists the first
// record above the watermark follows it (known only with a MANIFEST).
func continuity(watermark uint64, known bool) func(uint64, int64, wal.Record) error {
	last := watermark
	return func(_ uint64, _ int64, r wal.Record) error {
		if !known || r.Txn <= watermark {
			return nil
		}
		if r.Txn != last+1 {
			return fmt.Errorf("record %d follows version %d: records are missing", r.Txn, last)
		}
		last = r.Txn
		return nil
	}
}

func (in *inspector) setTail(res *wal.ScanResult) {
	d := res.Damage
	switch {
	case d == nil:
		in.r.Tail = TailStatus{State: TailClean}
	case d.Torn:
		seg := res.Segments[len(res.Segments)-1]
		in.r.Tail = TailStatus{State: TailTorn, File: d.Path, Offset: seg.ValidEnd, Bytes: seg.Size - seg.ValidEnd,
			HeaderTorn: d.HeaderTorn, Reason: d.Reason}
		if d.HeaderTorn {
			in.r.Tail.Bytes = seg.Size
		}
	default:
		in.r.Tail = TailStatus{State: TailCorrupt, File: d.Path, Offset: d.Offset, Reason: d.Reason}
		in.corrupt(d.Path, d.Offset, "%s", d.Reason)
	}
}

// describeSegments lists every segment file: the scanned ones from the scan,
// the others (before the log's start, after damage) from a read of their own.
func (in *inspector) describeSegments(nums []uint64, first uint64, uuid [16]byte, res *wal.ScanResult) error {
	scanned := map[uint64]wal.SegmentInfo{}
	for _, s := range res.Segments {
		scanned[s.Num] = s
	}
	for _, n := range nums {
		if s, ok := scanned[n]; ok {
			info := SegmentFileInfo{Num: n, Name: wal.SegmentName(n), Size: s.Size, Records: s.Records,
				FirstTxn: Version(s.FirstTxn), LastTxn: Version(s.LastTxn), ValidEnd: s.ValidEnd}
			if d := res.Damage; d != nil && d.Segment == n {
				info.Damage = fmt.Sprintf("offset %d: %s", d.Offset, d.Reason)
			}
			in.r.Segments = append(in.r.Segments, info)
			continue
		}
		info, err := in.readSegment(n, uuid)
		if err != nil {
			return err
		}
		info.Obsolete = n < first
		info.AfterDamage = !info.Obsolete
		in.r.Segments = append(in.r.Segments, info)
	}
	return nil
}

// readSegment decodes a segment the scan did not read, up to its first
// damage.
func (in *inspector) readSegment(n uint64, uuid [16]byte) (SegmentFileInfo, error) {
	info := SegmentFileInfo{Num: n, Name: wal.SegmentName(n)}
	data, err := vfs.ReadFile(in.o.FS, filepath.Join(in.walDir(), info.Name))
	if err != nil {
		return info, err
	}
	info.Size = int64(len(data))
	h, err := wal.DecodeHeader(data)
	switch {
	case err != nil:
		info.Damage = "offset 0: " + err.Error()
	case h.Num != n:
		info.Damage = fmt.Sprintf("offset 0: header names segment %d", h.Num)
	case h.UUID != uuid:
		info.Damage = fmt.Sprintf("offset 0: segment belongs to database %x, not %x", h.UUID, uuid)
	}
	if info.Damage != "" {
		return info, nil
	}
	decodeRecords(&info, data, in.o.MaxRecordSize-4, h)
	return info, nil
}

func decodeRecords(info *SegmentFileInfo, data []byte, maxLen int, h wal.SegmentHeader) {
	off := int64(wal.HeaderSize)
	info.ValidEnd = off
	for off < int64(len(data)) {
		r, n, err := wal.DecodeRecord(data[off:], off, maxLen)
		if err == nil {
			err = wal.Belongs(h.Num, h.Version, r)
		}
		if err == nil && info.LastTxn != 0 && r.Txn != uint64(info.LastTxn)+1 {
			err = fmt.Errorf("txn id %d where %d was expected", r.Txn, info.LastTxn+1)
		}
		if err != nil && wal.IsRest(data, off, maxLen, h.Num, h.Version, err) {
			return
		}
		if err != nil {
			info.Damage = fmt.Sprintf("offset %d: %v", off, err)
			return
		}
		if info.FirstTxn == 0 {
			info.FirstTxn = Version(r.Txn)
		}
		info.LastTxn = Version(r.Txn)
		info.Records++
		off += int64(n)
		info.ValidEnd = off
	}
}

// inspectTemps lists the temp files Compact removes.
func (in *inspector) inspectTemps(snaps []string) error {
	var paths []string
	for _, n := range snaps {
		if strings.HasSuffix(n, ".tmp") {
			paths = append(paths, filepath.Join(in.snapDir(), n))
		}
	}
	paths = append(paths, filepath.Join(in.dir, manifest.TempName))
	for _, p := range paths {
		fi, err := in.o.FS.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		in.r.TempFiles = append(in.r.TempFiles, TempFileInfo{Path: p, Size: fi.Size()})
	}
	return nil
}

// sumReclaimable adds up what Compact would remove. Without a MANIFEST
// nothing is known to be unneeded but temp files.
func (in *inspector) sumReclaimable() {
	var n int64
	for _, t := range in.r.TempFiles {
		n += t.Size
	}
	if in.m != nil {
		for _, s := range in.r.Segments {
			if s.Obsolete {
				n += s.Size
			}
		}
		for _, s := range in.r.Snapshots {
			if !s.Current {
				n += s.Size
			}
		}
	}
	in.r.Reclaimable = n
}
