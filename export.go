package inmem

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/in-mem/inmem/crashpoint"
	"github.com/in-mem/inmem/internal/base"
	"github.com/in-mem/inmem/internal/manifest"
	"github.com/in-mem/inmem/internal/snapshot"
	"github.com/in-mem/inmem/internal/wal"
	"github.com/in-mem/inmem/vfs"
)

// ExportName is the marker an export writes last, listing every file of the
// export with its size and CRC-32C. A directory without it is not a
// complete export.
//
// # Format
//
// Text, one item per line:
//
//	in-mem export 1
//	watermark <version>
//	file <size> <crc32c, 8 hex digits> <path relative to the export, Go-quoted>
//	...
//	crc <crc32c of every byte above, 8 hex digits>
const ExportName = "EXPORT"

const (
	exportHeader     = "in-mem export 1"
	exportTemp       = ExportName + ".tmp"
	maxExportMarker  = 64 << 10
	exportCopyBuffer = 1 << 20
)

var exportCRC = crc32.MakeTable(crc32.Castagnoli)

// ExportInfo describes an export.
type ExportInfo struct {
	Dir        string
	Watermark  Version  // the export holds exactly the commits at or below it
	SnapshotID uint64   // the snapshot it was made from
	Files      []string // paths relative to Dir, the EXPORT marker last
	Bytes      int64    // bytes written, the marker included
	Duration   time.Duration
}

// exportFile is one file an EXPORT marker lists.
type exportFile struct {
	path string // relative, slash-separated
	size int64
	crc  uint32
}

// Export writes into dir a complete, self-contained copy of the database as
// of a checkpoint it takes first: a MANIFEST, that snapshot, and an empty
// log segment whose first record will follow the snapshot's watermark. dir
// must not exist or be empty. The database stays open and writable
// meanwhile; the export holds exactly the commits at or below
// ExportInfo.Watermark. Every file is synced, then the EXPORT marker, which
// lists each file with its size and checksum, is written last: Import
// refuses a directory without it, so an interrupted Export (or copy of an
// export) is never mistaken for a database.
//
// An InMemory database exports the same way, its snapshot written from
// memory under a new database UUID. An export made on disk keeps the
// database's UUID: it is a point-in-time copy of the same database.
func (db *DB) Export(dir string) (ExportInfo, error) {
	start := time.Now()
	db.maintMu.Lock()
	defer db.maintMu.Unlock()
	if err := db.writable(); err != nil {
		return ExportInfo{}, err
	}
	if err := db.prepareExportDir(dir); err != nil {
		return ExportInfo{}, err
	}
	m, err := db.exportSnapshot(dir)
	if err != nil {
		return ExportInfo{}, err
	}
	info, err := db.finishExport(dir, m)
	info.Duration = time.Since(start)
	return info, err
}

// prepareExportDir creates dir (and its WAL and SNAPSHOTS directories) and
// checks it was empty and outside the database.
func (db *DB) prepareExportDir(dir string) error {
	if dir == "" {
		return invalidf("empty export directory")
	}
	if inside(dir, db.dir) {
		return invalidf("cannot export %s into its own directory (%s)", db.dir, dir)
	}
	return prepareEmptyDir(db.opts.FS, dir)
}

// inside reports whether path is dir or lies under it. An empty dir (an
// InMemory database) holds nothing.
func inside(path, dir string) bool {
	if dir == "" {
		return false
	}
	p, perr := filepath.Abs(path)
	d, derr := filepath.Abs(dir)
	if perr != nil || derr != nil {
		p, d = filepath.Clean(path), filepath.Clean(dir)
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// exportSnapshot puts the snapshot into dir/SNAPSHOTS and returns the
// MANIFEST the export needs: a checkpoint's snapshot copied on disk, or one
// written from memory. Called with maintMu held, which also keeps
// compaction from removing the snapshot while it is copied.
func (db *DB) exportSnapshot(dir string) (manifest.Manifest, error) {
	snapDir := filepath.Join(dir, snapshot.DirName)
	if db.log == nil {
		return db.writeMemorySnapshot(snapDir)
	}
	ck, err := db.checkpointLocked()
	if err != nil {
		return manifest.Manifest{}, err
	}
	m := db.currentManifest()
	m.ActiveSegment = 1
	m.LogEnd = manifest.LogEnd{Segment: 1, Offset: wal.HeaderSize, Txn: m.Watermark}
	dst := filepath.Join(snapDir, snapshot.FileName(ck.SnapshotID))
	return m, copyFile(db.opts.FS, ck.File, dst)
}

// writeMemorySnapshot writes snapshot 1 of the in-memory state at the last
// commit, which it pins meanwhile as a checkpoint does.
func (db *DB) writeMemorySnapshot(snapDir string) (manifest.Manifest, error) {
	uuid, err := newUUID()
	if err != nil {
		return manifest.Manifest{}, err
	}
	db.commitMu.Lock()
	w, clock := db.last, db.lastTS
	db.pin.Store(max(w, 1))
	db.updateFloor()
	db.commitMu.Unlock()
	defer func() { db.pin.Store(0); db.updateFloor() }()

	m := manifest.Manifest{UUID: uuid, CodecID: db.opts.Codec.ID(), ActiveSegment: 1, SnapshotID: 1, Watermark: w,
		LogEnd: manifest.LogEnd{Segment: 1, Offset: wal.HeaderSize, Txn: w}}
	h := snapshot.Header{UUID: uuid, ID: 1, Watermark: w, Clock: clock, CodecID: m.CodecID}
	_, _, err = snapshot.WriteFile(db.opts.FS, snapDir, h, db.opts.Codec, nil, func(wr io.Writer) error {
		_, err := db.store.EncodeSnapshot(wr, w)
		return err
	})
	return m, err
}

// finishExport writes the empty segment and the MANIFEST, syncs every
// directory, then writes the marker.
func (db *DB) finishExport(dir string, m manifest.Manifest) (ExportInfo, error) {
	fsys := db.opts.FS
	info := ExportInfo{Dir: dir, Watermark: Version(m.Watermark), SnapshotID: m.SnapshotID}
	f, err := wal.CreateSegment(fsys, filepath.Join(dir, wal.DirName), m.ActiveSegment, m.UUID, nil)
	if err != nil {
		return info, err
	}
	if err := f.Close(); err != nil {
		return info, err
	}
	if _, err := manifest.Write(fsys, dir, m, nil, crashpoint.DuringManifestUpdate); err != nil {
		return info, err
	}
	if err := syncExportDirs(fsys, dir); err != nil {
		return info, err
	}
	paths := []string{
		manifest.FileName,
		snapshot.DirName + "/" + snapshot.FileName(m.SnapshotID),
		wal.DirName + "/" + wal.SegmentName(m.ActiveSegment),
	}
	var listed []exportFile
	for _, p := range paths {
		size, crc, err := fileCRC(fsys, filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return info, err
		}
		listed = append(listed, exportFile{path: p, size: size, crc: crc})
		info.Files = append(info.Files, p)
		info.Bytes += size
	}
	marker := encodeExportMarker(m.Watermark, listed)
	if err := writeMarker(fsys, dir, marker); err != nil {
		return info, err
	}
	info.Files = append(info.Files, ExportName)
	info.Bytes += int64(len(marker))
	return info, nil
}

// writeMarker writes EXPORT crash-safely: temp file, sync, rename, sync.
func writeMarker(fsys vfs.FS, dir string, marker []byte) error {
	tmp := filepath.Join(dir, exportTemp)
	if err := vfs.WriteFile(fsys, tmp, marker); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, ExportName)); err != nil {
		return err
	}
	return vfs.SyncDir(fsys, dir)
}

// copyFile copies src to dst and syncs dst.
func copyFile(fsys vfs.FS, src, dst string) error {
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := fsys.Stat(src)
	if err != nil {
		return err
	}
	out, err := fsys.Create(dst)
	if err != nil {
		return err
	}
	buf := make([]byte, exportCopyBuffer)
	if _, err := io.CopyBuffer(writerOnly{out}, io.NewSectionReader(in, 0, st.Size()), buf); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writerOnly hides any ReadFrom of a File so io.CopyBuffer uses its buffer.
type writerOnly struct{ io.Writer }

// fileCRC returns the size and CRC-32C of a file, reading it in chunks.
func fileCRC(fsys vfs.FS, path string) (int64, uint32, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := fsys.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	h := crc32.New(exportCRC)
	n, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, st.Size()), make([]byte, exportCopyBuffer))
	return n, h.Sum32(), err
}

func encodeExportMarker(watermark uint64, files []exportFile) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nwatermark %d\n", exportHeader, watermark)
	for _, f := range files {
		fmt.Fprintf(&b, "file %d %08x %s\n", f.size, f.crc, strconv.Quote(f.path))
	}
	fmt.Fprintf(&b, "crc %08x\n", crc32.Checksum(b.Bytes(), exportCRC))
	return b.Bytes()
}

// decodeExportMarker parses an EXPORT marker. Every failure is a
// *CorruptionError: the marker is written whole or not at all.
func decodeExportMarker(path string, data []byte) (uint64, []exportFile, error) {
	bad := func(off int, format string, args ...any) error {
		return base.Corruptf(path, int64(off), "EXPORT marker: "+format, args...)
	}
	body, last, ok := cutLastLine(data)
	if !ok {
		return 0, nil, bad(len(data), "no checksum line")
	}
	var sum uint32
	if n, err := fmt.Sscanf(last, "crc %08x", &sum); n != 1 || err != nil || last != fmt.Sprintf("crc %08x", sum) {
		return 0, nil, bad(len(body), "bad checksum line %q", last)
	}
	if got := crc32.Checksum(body, exportCRC); got != sum {
		return 0, nil, bad(len(body), "checksum mismatch: stored %08x computed %08x", sum, got)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 2 || lines[0] != exportHeader {
		return 0, nil, bad(0, "not an in-mem export marker of a known version")
	}
	w, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "watermark "), 10, 64)
	if err != nil || !strings.HasPrefix(lines[1], "watermark ") {
		return 0, nil, bad(len(lines[0])+1, "bad watermark line %q", lines[1])
	}
	var files []exportFile
	for _, l := range lines[2:] {
		f, err := parseExportFile(l)
		if err != nil {
			return 0, nil, bad(-1, "%v", err)
		}
		files = append(files, f)
	}
	return w, files, nil
}

func cutLastLine(data []byte) ([]byte, string, bool) {
	if !bytes.HasSuffix(data, []byte("\n")) {
		return nil, "", false
	}
	i := bytes.LastIndexByte(data[:len(data)-1], '\n')
	if i < 0 {
		return nil, "", false
	}
	return data[:i+1], string(data[i+1 : len(data)-1]), true
}

func parseExportFile(line string) (exportFile, error) {
	fields := strings.SplitN(line, " ", 4)
	if len(fields) != 4 || fields[0] != "file" {
		return exportFile{}, fmt.Errorf("bad file line %q", line)
	}
	size, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || size < 0 {
		return exportFile{}, fmt.Errorf("bad size in %q", line)
	}
	crc, err := hex.DecodeString(fields[2])
	if err != nil || len(crc) != 4 {
		return exportFile{}, fmt.Errorf("bad checksum in %q", line)
	}
	p, err := strconv.Unquote(fields[3])
	if err != nil || !fs.ValidPath(p) || p == "." {
		return exportFile{}, fmt.Errorf("bad path in %q", line)
	}
	return exportFile{path: p, size: size, crc: uint32(crc[0])<<24 | uint32(crc[1])<<16 | uint32(crc[2])<<8 | uint32(crc[3])}, nil
}

// Import opens a directory Export wrote, after checking it is a complete
// export: the EXPORT marker must be there and every file it lists present
// with its size and checksum, and nothing else that recovery would read.
// A directory that is not (yet) a complete export, such as an interrupted
// Export or copy, fails with ErrIncompleteExport; damage to a complete one
// is a *CorruptionError. opts are Open's.
//
// Import opens the export in place: it becomes the database directory. Once
// it is open the marker is removed, since the first commit changes the log
// it describes; open the directory with Open from then on. (Open of an
// export does the same: it checks the export, and removes the marker.)
// With InMemory durability Import loads the export into memory, and with
// ReadOnly it opens it read-only; neither changes anything on disk.
func Import(dir string, opts *Options) (*DB, error) {
	o, err := opts.prepare()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, invalidf("empty directory")
	}
	if o.Durability == InMemory || o.ReadOnly {
		w, err := verifyExport(o.FS, dir)
		if err != nil {
			return nil, err
		}
		if o.ReadOnly {
			return Open(dir, opts)
		}
		return importInMemory(dir, o, w)
	}
	if ok, err := vfs.Exists(o.FS, filepath.Join(dir, ExportName)); err != nil || !ok {
		return nil, cmp.Or(err, noMarker(dir))
	}
	return Open(dir, opts) // it checks the export and removes the marker
}

func noMarker(dir string) error {
	return fmt.Errorf("%w: %s has no %s marker (an Export or a copy that did not finish, or a database: use Open)", ErrIncompleteExport, dir, ExportName)
}

// checkExport checks, before a writable Open changes anything, a database
// directory that holds an EXPORT marker: an export, which must be complete.
// It reports whether there is a marker.
func checkExport(fsys vfs.FS, dir string) (bool, error) {
	ok, err := vfs.Exists(fsys, filepath.Join(dir, ExportName))
	if err != nil || !ok {
		return false, err
	}
	_, err = verifyExport(fsys, dir)
	return true, err
}

// dropExportMarker removes the marker of an export just opened: the first
// commit changes the log it describes, and a marker left behind would make
// the directory read as a damaged export.
func dropExportMarker(fsys vfs.FS, dir string) error {
	if err := fsys.Remove(filepath.Join(dir, ExportName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return vfs.SyncDir(fsys, dir)
}

// verifyExport checks dir against its marker and returns the watermark.
func verifyExport(fsys vfs.FS, dir string) (uint64, error) {
	mpath := filepath.Join(dir, ExportName)
	st, err := fsys.Stat(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, noMarker(dir)
	}
	if err != nil {
		return 0, err
	}
	if st.Size() > maxExportMarker {
		return 0, base.Corruptf(mpath, -1, "EXPORT marker of %d bytes is too large", st.Size())
	}
	data, err := vfs.ReadFile(fsys, mpath)
	if err != nil {
		return 0, err
	}
	w, listed, err := decodeExportMarker(mpath, data)
	if err != nil {
		return 0, err
	}
	if err := checkExportFiles(fsys, dir, listed); err != nil {
		return 0, err
	}
	m, err := manifest.Read(fsys, dir)
	if err != nil {
		return 0, err
	}
	if m.Watermark != w {
		return 0, base.Corruptf(filepath.Join(dir, manifest.FileName), 40, "MANIFEST watermark %d is not the export's %d", m.Watermark, w)
	}
	return w, nil
}

// checkExportFiles checks every listed file and that the export holds no
// other file recovery would read.
func checkExportFiles(fsys vfs.FS, dir string, listed []exportFile) error {
	want := map[string]exportFile{}
	for _, f := range listed {
		want[f.path] = f
	}
	for _, name := range []string{manifest.FileName, snapshot.DirName, wal.DirName} {
		if !slices.ContainsFunc(listed, func(f exportFile) bool { return strings.HasPrefix(f.path, name) }) {
			return base.Corruptf(filepath.Join(dir, ExportName), -1, "EXPORT marker lists no %s", name)
		}
	}
	for _, sub := range []string{wal.DirName, snapshot.DirName} {
		names, err := fsys.List(filepath.Join(dir, sub))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, n := range names {
			if _, ok := want[sub+"/"+n]; !ok {
				return fmt.Errorf("%w: %s holds %s/%s, which the EXPORT marker does not list", ErrIncompleteExport, dir, sub, n)
			}
		}
	}
	for _, f := range listed {
		path := filepath.Join(dir, filepath.FromSlash(f.path))
		size, crc, err := fileCRC(fsys, path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%w: %s is missing", ErrIncompleteExport, path)
		case err != nil:
			return err
		case size < f.size:
			return fmt.Errorf("%w: %s has %d of its %d bytes", ErrIncompleteExport, path, size, f.size)
		case size != f.size || crc != f.crc:
			return base.Corruptf(path, -1, "export file does not match the EXPORT marker: %d bytes with CRC-32C %08x, listed as %d bytes with %08x", size, crc, f.size, f.crc)
		}
	}
	return nil
}

// importInMemory loads a verified export into an InMemory database.
func importInMemory(dir string, o Options, w uint64) (*DB, error) {
	m, err := manifest.Read(o.FS, dir)
	if err != nil {
		return nil, err
	}
	if m.CodecID != o.Codec.ID() {
		return nil, fmt.Errorf("%w: the export was written with codec %q, imported with %q", ErrCodecMismatch, m.CodecID, o.Codec.ID())
	}
	s, err := loadSnapshot(o, filepath.Join(dir, snapshot.DirName), m)
	if err != nil {
		return nil, err
	}
	db := &DB{opts: o, store: s, last: w, lastTS: s.Clock()}
	db.visible.Store(w)
	s.SetFloor(w)
	return db, nil
}
