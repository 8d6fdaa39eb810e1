package connectors

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestPositionRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pos  Position
		want string // substring of the stored value
	}{
		{"json object embedded", Position(`{"lsn": 42}`), `"position":{"lsn":42}`},
		{"json string embedded", Position(`"mysql-bin.000003:120"`), `"position":"mysql-bin.000003:120"`},
		{"binary base64", Position([]byte{0, 1, 2, 0xff}), `"encoding":"base64"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := EncodePosition(tc.pos, time.UnixMilli(5))
			if !bytes.Contains(v, []byte(tc.want)) || !bytes.Contains(v, []byte(`"version":1`)) {
				t.Fatalf("value %s lacks %s", v, tc.want)
			}
			got, err := DecodePosition(v)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.pos
			if tc.name == "json object embedded" {
				want = Position(`{"lsn":42}`) // compacted
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
	if got := string(PositionKey("shop", "postgres")); got != `{"pipeline":"shop","source":"postgres"}` {
		t.Fatalf("key %s", got)
	}
	for _, bad := range []string{`{"version":2,"position":1}`, `{"version":1}`, `{"version":1,"encoding":"rot13","position":"x"}`, `nope`} {
		if _, err := DecodePosition([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if p, err := DecodePosition(nil); p != nil || err != nil {
		t.Errorf("tombstone: %q %v", p, err)
	}
}

// FuzzDecodePosition: decoding never panics, and whatever decodes
// re-encodes to a value that decodes to the same position.
func FuzzDecodePosition(f *testing.F) {
	f.Add(EncodePosition(Position(`{"lsn":1}`), time.UnixMilli(1)))
	f.Add(EncodePosition(Position{0xff, 0}, time.UnixMilli(1)))
	f.Add([]byte(`{"version":1,"position":null}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		p, err := DecodePosition(v)
		if err != nil || p == nil {
			return
		}
		p2, err := DecodePosition(EncodePosition(p, time.UnixMilli(1)))
		if err != nil {
			t.Fatalf("re-decoding %q: %v", p, err)
		}
		if !bytes.Equal(compactOr(p), compactOr(p2)) {
			t.Fatalf("round trip %q -> %q", p, p2)
		}
	})
}

func compactOr(p []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return p
	}
	return b.Bytes()
}
