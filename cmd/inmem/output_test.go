package main

import (
	"testing"
	"time"
)

func TestPrintable(t *testing.T) {
	tcs := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"héllo", "héllo"},
		{"tab\there", `"tab\there"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"\xff\xfe", `"\xff\xfe"`},
		{"", ""},
	}
	for _, tc := range tcs {
		if got := printable([]byte(tc.in)); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestEncodeValue(t *testing.T) {
	if v := encodeValue([]byte("text")); v != (jsonValue{Value: "text"}) {
		t.Errorf("text: %+v", v)
	}
	if v := encodeValue([]byte{0xff, 0x00}); v != (jsonValue{Value: "/wA=", Encoding: "base64"}) {
		t.Errorf("binary: %+v", v)
	}
}

func TestFormatTime(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
	if got, want := formatTime(ts), "2024-05-06T06:08:09.123456Z"; got != want {
		t.Errorf("formatTime = %s, want %s", got, want)
	}
}
