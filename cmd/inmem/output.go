package main

import (
	"encoding/base64"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// timeFormat shows commit timestamps in UTC to the microsecond, as stored.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// printable returns b as text if it is printable UTF-8, else quoted with
// Go escapes, so that a listing never writes control bytes to a terminal.
func printable(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return strconv.Quote(s)
		}
	}
	return s
}

// jsonValue is a value in JSON output: the text if it is valid UTF-8, else
// base64 with Encoding "base64".
type jsonValue struct {
	Value    string `json:"value"`
	Encoding string `json:"encoding,omitempty"`
}

// keyJSON is a key or a name in JSON output, encoded as values are: JSON
// strings hold text only, and a binary key printed as a string would lose
// bytes.
type keyJSON struct {
	Key      string `json:"key"`
	Encoding string `json:"encoding,omitempty"`
}

func encodeKey(s string) keyJSON {
	v := encodeValue([]byte(s))
	return keyJSON{Key: v.Value, Encoding: v.Encoding}
}

func encodeValue(b []byte) jsonValue {
	if utf8.Valid(b) {
		return jsonValue{Value: string(b)}
	}
	return jsonValue{Value: base64.StdEncoding.EncodeToString(b), Encoding: "base64"}
}

// newTable returns a writer aligning tab-separated columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}
