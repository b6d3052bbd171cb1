package corrupt

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/in-mem/inmem"
)

// hit is what one damage did to the files.
type hit struct {
	file string
	// from and to bound the bytes changed: [from, to); to < 0 means to the
	// end of the file (nothing after from is left valid). from < 0: the
	// file is gone.
	from, to int64
	// wellFormed: the damage left a record (or file) with a valid
	// checksum, which no torn write leaves: always corruption.
	wellFormed bool
	// reasons are words one of which a refusal's reason must hold (none:
	// any reason).
	reasons []string
	// stale: the damage wrote a well-formed record that names another
	// segment, as a recycled segment file holds from its earlier life. It
	// is no part of the log: judged as if the bytes it covers were lost
	// (zeros), never as a well-formed record.
	stale bool
}

// outcome is what recovery must make of a damaged database.
type outcome struct {
	refused bool
	file    string        // the file a refusal names
	offset  int64         // the offset it names (-1: any)
	version inmem.Version // the last version of the prefix that opens
	every   bool          // the prefix is every record
}

func (o outcome) String() string {
	switch {
	case o.refused && o.offset >= 0:
		return fmt.Sprintf("refused as corruption naming %s at offset %d", filepath.Base(o.file), o.offset)
	case o.refused:
		return fmt.Sprintf("refused as corruption naming %s", filepath.Base(o.file))
	case o.every:
		return fmt.Sprintf("opens with every record (v%d)", o.version)
	}
	return fmt.Sprintf("opens with exactly the prefix up to v%d", o.version)
}

// logEnd is the durable end of the log the MANIFEST records, and the
// watermark of its snapshot: what a snapshot holds no log damage loses.
type logEnd struct {
	segment   uint64
	offset    int64
	watermark inmem.Version
}

// prefix is the outcome of a recovery that opens the records of the log
// up to v: and what the snapshot holds in any case.
func (e logEnd) prefix(v inmem.Version) outcome { return outcome{version: max(v, e.watermark)} }

// expect is the rule by which recovery is judged, from what the harness
// knows of the files it built: damage to the newest segment, at or after
// the durable end the MANIFEST records, followed by no valid record that
// claims it synced, is a torn tail (exactly the records before it open);
// any other damage hit durable bytes and is refused, naming the file and
// the record (or header) it hit. A stale record (x.stale) ends its
// segment's log where it lies, as lost bytes do: it is judged by the same
// rule.
func (h *history) expect(x hit, end logEnd, newest string) outcome {
	segment := filepath.Dir(x.file) == filepath.Join(h.dir, walDirName) && strings.HasSuffix(x.file, ".seg")
	if !segment {
		return outcome{refused: true, file: x.file, offset: -1}
	}
	refused := outcome{refused: true, file: x.file, offset: h.damagedAt(x)}
	num := segmentNum(x.file)
	r, inRecord := h.containing(x.file, max(x.from, 0))
	switch {
	case x.wellFormed && inRecord && r.version <= end.watermark:
		// A record with a valid checksum that the snapshot covers is never
		// applied: nothing is lost, whatever its content.
		return outcome{every: true, version: h.model.Latest()}
	case x.wellFormed, x.file != newest:
		return refused
	case x.from < 0: // the newest segment removed
		if num > end.segment && len(h.records[x.file]) == 0 {
			return end.prefix(h.before(x.file, 0))
		}
		return refused
	case x.from < segmentHeader:
		if num > end.segment && len(h.records[x.file]) == 0 {
			return end.prefix(h.before(x.file, 0))
		}
		return refused
	case x.from >= h.size[x.file]:
		return outcome{every: true, version: h.model.Latest()}
	case num < end.segment || num == end.segment && x.from < end.offset:
		return refused
	case x.to >= 0 && h.claimAfter(x.file, x.to-1) > x.from:
		return refused
	}
	return end.prefix(h.before(x.file, x.from))
}

// damagedAt is the offset a refusal names: the start of the record (or
// header) holding the first damaged byte; -1 for a file that is gone.
func (h *history) damagedAt(x hit) int64 {
	if x.from < 0 {
		return -1
	}
	if x.from < segmentHeader {
		return 0
	}
	if r, ok := h.containing(x.file, x.from); ok {
		return r.off
	}
	return x.from
}

func segmentNum(path string) uint64 {
	var n uint64
	fmt.Sscanf(filepath.Base(path), "wal-%d.seg", &n)
	return n
}
