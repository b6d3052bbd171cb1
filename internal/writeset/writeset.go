// Package writeset encodes the mutations of one commit: the payload of a WAL
// record (before the codec).
//
// # Format
//
//	uvarint count, then count mutations:
//	+------+--------+---------+-----+-----------+-------+----------------------+
//	| kind | run id | uvarint | key | uvarint   | value | uvarint seq          |
//	| u8   | 16 B   | key len |     | value len |       | (event appends only) |
//	+------+--------+---------+-----+-----------+-------+----------------------+
//
// Every mutation of a record carries the record's txn id as its version.
// Decoding never allocates more than the input justifies.
package writeset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// Kind is what a mutation does. Never renumber.
type Kind uint8

const (
	// CreateRun creates run Run named Key.
	CreateRun Kind = 1
	// KVPut sets Key to Value.
	KVPut Kind = 2
	// KVDelete deletes Key (a tombstone version).
	KVDelete Kind = 3
	// EventAppend appends Value as event number Seq.
	EventAppend Kind = 4
	// StateSet sets cell Key to Value.
	StateSet Kind = 5
	// SetRetention stores the retention policy Value for Run in the system
	// namespace, which user keys cannot reach.
	SetRetention Kind = 6
	maxKind           = SetRetention
)

func (k Kind) String() string {
	switch k {
	case CreateRun:
		return "create-run"
	case KVPut:
		return "kv-put"
	case KVDelete:
		return "kv-delete"
	case EventAppend:
		return "event-append"
	case StateSet:
		return "state-set"
	case SetRetention:
		return "set-retention"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Mutation is one change. A decoded one aliases the decoded buffer.
type Mutation struct {
	Kind  Kind
	Run   [16]byte
	Key   string
	Value []byte
	Seq   uint64
}

// minSize is the smallest encoding of a mutation.
const minSize = 1 + 16 + 1 + 1

// ErrMalformed is returned for a writeset that does not decode.
var ErrMalformed = errors.New("inmem/writeset: malformed writeset")

// Size returns the exact encoded size of ms.
func Size(ms []Mutation) int {
	n := CountSize(len(ms))
	for i := range ms {
		m := &ms[i]
		n += MutationSize(m.Kind, len(m.Key), len(m.Value), m.Seq)
	}
	return n
}

// CountSize is the encoded size of a writeset's mutation count.
func CountSize(count int) int { return uvarintLen(uint64(count)) }

// MutationSize is the exact encoded size of one mutation with a key and a
// value of the given lengths: what it adds to a writeset. It needs only the
// lengths, so a write can be refused as too large before it is copied.
func MutationSize(kind Kind, keyLen, valueLen int, seq uint64) int {
	n := 1 + 16 + uvarintLen(uint64(keyLen)) + keyLen + uvarintLen(uint64(valueLen)) + valueLen
	if kind == EventAppend {
		n += uvarintLen(seq)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// Append appends the encoding of ms to dst.
func Append(dst []byte, ms []Mutation) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ms)))
	for i := range ms {
		m := &ms[i]
		dst = append(dst, byte(m.Kind))
		dst = append(dst, m.Run[:]...)
		dst = binary.AppendUvarint(dst, uint64(len(m.Key)))
		dst = append(dst, m.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(m.Value)))
		dst = append(dst, m.Value...)
		if m.Kind == EventAppend {
			dst = binary.AppendUvarint(dst, m.Seq)
		}
	}
	return dst
}

// Decode parses a writeset. Keys and values alias b (a key is a string
// over b's bytes): copy what must outlive b or a change of it.
func Decode(b []byte) ([]Mutation, error) { return DecodeInto(nil, b) }

// DecodeInto is Decode into dst's memory where it has room (its length is
// ignored): a reader of many writesets reuses one slice.
func DecodeInto(dst []Mutation, b []byte) ([]Mutation, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad mutation count", ErrMalformed)
	}
	b = b[n:]
	if count == 0 || count > uint64(len(b)/minSize) {
		return nil, fmt.Errorf("%w: %d mutations cannot fit in %d bytes", ErrMalformed, count, len(b))
	}
	ms := dst[:0]
	if uint64(cap(dst)) < count {
		ms = make([]Mutation, count)
	}
	ms = ms[:count]
	for i := range ms {
		var err error
		if b, err = decodeOne(b, &ms[i]); err != nil {
			return nil, fmt.Errorf("%w: mutation %d: %v", ErrMalformed, i, err)
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
	}
	return ms, nil
}

func decodeOne(b []byte, m *Mutation) ([]byte, error) {
	if len(b) < 17 {
		return nil, errors.New("cut short")
	}
	*m = Mutation{Kind: Kind(b[0])} // NB: m may hold an earlier writeset's mutation
	if m.Kind == 0 || m.Kind > maxKind {
		return nil, fmt.Errorf("unknown kind %d", b[0])
	}
	m.Run = [16]byte(b[1:17])
	b = b[17:]
	key, b, err := bytesField(b)
	if err != nil {
		return nil, fmt.Errorf("key: %v", err)
	}
	m.Key = unsafe.String(unsafe.SliceData(key), len(key))
	if m.Value, b, err = bytesField(b); err != nil {
		return nil, fmt.Errorf("value: %v", err)
	}
	if m.Kind == EventAppend {
		seq, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad event sequence")
		}
		m.Seq, b = seq, b[n:]
	}
	return b, nil
}

func bytesField(b []byte) ([]byte, []byte, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, nil, errors.New("bad length")
	}
	b = b[n:]
	if l > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d beyond the %d bytes left", l, len(b))
	}
	return b[:l], b[l:], nil
}
