package log

import (
	"errors"
	"testing"
)

func TestCheckBatch(t *testing.T) {
	t.Parallel()
	good := mkBatch(t, CodecNone, 1000, rec("a", "1"), rec("b", "2"))
	mut := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	tests := []struct {
		name  string
		batch []byte
		ok    bool
	}{
		{"valid", good, true},
		{"base offset outside crc", mut(func(b []byte) []byte { setBaseOffset(b, 99); return b }), true},
		{"short header", good[:40], false},
		{"truncated body", good[:len(good)-1], false},
		{"bad magic", mut(func(b []byte) []byte { b[magicOffset] = 1; return b }), false},
		{"bad crc", mut(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), false},
		{"negative length", mut(func(b []byte) []byte { b[8] = 0xff; return b }), false},
		{"length too small", mut(func(b []byte) []byte { b[8], b[9], b[10], b[11] = 0, 0, 0, 10; return b }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := checkBatch(tc.batch)
			if tc.ok != (err == nil) {
				t.Fatalf("checkBatch err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("error %v is not ErrCorruptBatch", err)
			}
			if tc.ok && (h.NumRecords != 2 || h.LastOffsetDelta != 1 || h.MaxTimestamp != 1000) {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

func TestCodecsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, codec := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(codecName(codec), func(t *testing.T) {
			t.Parallel()
			b := mkBatch(t, codec, 5, rec("k1", "hello"), rec("k2", ""), kv{k: []byte("k3"), v: []byte("x"), ts: 7})
			h, err := checkBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != codec {
				t.Fatalf("codec %d", h.Codec())
			}
			recs, err := decodeRecords(b, h)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || string(recs[0].Value) != "hello" || recs[1].Value != nil || recs[2].TimestampDelta != 7 || string(recs[2].Key) != "k3" {
				t.Fatalf("records %+v", recs)
			}
		})
	}
}

// TestXerialSnappy: Java producers frame snappy the xerial way.
func TestXerialSnappy(t *testing.T) {
	t.Parallel()
	raw := appendRecord(nil, Record{Key: []byte("k"), Value: []byte("v")})
	block, _ := compress(CodecSnappy, raw)
	framed := append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1)
	framed = append(framed, byte(len(block)>>24), byte(len(block)>>16), byte(len(block)>>8), byte(len(block)))
	framed = append(framed, block...)
	got, err := decompress(CodecSnappy, framed)
	if err != nil || string(got) != string(raw) {
		t.Fatalf("unxerial = %q, %v", got, err)
	}
}

func codecName(c int) string {
	return [...]string{"none", "gzip", "snappy", "lz4", "zstd"}[c]
}
