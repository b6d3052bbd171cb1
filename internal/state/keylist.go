package state

// keyList is an append-only list of KV chains, in chunks that are never
// resized: adding a key never copies the ones before it. A slice that
// doubled moved every entry again onto fresh pages, and the page faults
// cost about a tenth of a Buffered put and of recovery's replay.
//
// Readers copy the list (under the run's lock) and read its first n
// entries while the writer adds more: the writer only writes past n, in
// the chunks or in the chunk list, so a copy stays valid.
type keyList struct {
	chunks [][]kvRef // each of full length, written by index
	n      int       // entries added
	room   int       // free entries at the end of the last chunk
}

// Chunk sizes grow from minKeyChunk to maxKeyChunk: a run with few keys
// keeps a small list.
const (
	minKeyChunk = 4
	maxKeyChunk = 4096
)

func (l *keyList) add(k kvRef) {
	if l.room == 0 {
		size := minKeyChunk
		if len(l.chunks) > 0 {
			size = min(2*len(l.chunks[len(l.chunks)-1]), maxKeyChunk)
		}
		l.chunks = append(l.chunks, make([]kvRef, size))
		l.room = size
	}
	last := l.chunks[len(l.chunks)-1]
	last[len(last)-l.room] = k
	l.room--
	l.n++
}

// appendTo appends the entries from index from on, in order, to dst.
func (l keyList) appendTo(dst []kvRef, from int) []kvRef {
	left := l.n
	for _, c := range l.chunks {
		c = c[:min(len(c), left)]
		left -= len(c)
		if from >= len(c) {
			from -= len(c)
			continue
		}
		dst = append(dst, c[from:]...)
		from = 0
	}
	return dst
}

// after returns a new list of the entries from index from on.
func (l keyList) after(from int) keyList {
	var rest keyList
	for _, k := range l.appendTo(nil, from) {
		rest.add(k)
	}
	return rest
}
