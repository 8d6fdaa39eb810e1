package kafkaproto

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
)

func gunzip(codec int8, b []byte) ([]byte, error) {
	if codec != 1 {
		return nil, fmt.Errorf("codec %d", codec)
	}
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func gzipWrapper(inner []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(inner)
	_ = w.Close()
	msg := AppendLegacyMessage(nil, 1, 5, nil, buf.Bytes())
	msg[12+5] = 1 // attributes: gzip (message starts after offset and size)
	// Recompute the CRC over magic..end.
	m := msg[12:]
	crc := crcIEEE(m[4:])
	m[0], m[1], m[2], m[3] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return msg
}

func TestConvertMessageSet(t *testing.T) {
	t.Parallel()
	v0 := AppendLegacyMessage(nil, 0, 0, []byte("k0"), []byte("v0"))
	v1 := AppendLegacyMessage(nil, 1, 1234, nil, []byte("v1"))
	tomb := AppendLegacyMessage(nil, 1, 99, []byte("gone"), nil)
	inner := append(AppendLegacyMessage(nil, 1, 7, []byte("a"), []byte("1")), AppendLegacyMessage(nil, 1, 8, []byte("b"), []byte("2"))...)
	badCRC := append([]byte(nil), v1...)
	badCRC[len(badCRC)-1] ^= 1
	tests := []struct {
		name    string
		set     []byte
		want    string
		wantErr error
	}{
		{name: "magic 0 and 1", set: append(append(append([]byte(nil), v0...), v1...), tomb...),
			want: "[k0=v0@1000 <nil>=v1@1234 gone=<nil>@99]"},
		{name: "gzip wrapper", set: gzipWrapper(inner), want: "[a=1@7 b=2@8]"},
		{name: "bad crc", set: badCRC, wantErr: ErrCorruptBatch},
		{name: "truncated", set: v1[:len(v1)-2], wantErr: ErrCorruptBatch},
		{name: "empty", set: nil, wantErr: ErrCorruptBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs, err := ConvertMessageSet(tc.set, 1000, gunzip)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for _, r := range recs {
				k, v := "<nil>", "<nil>"
				if r.Key != nil {
					k = string(r.Key)
				}
				if r.Value != nil {
					v = string(r.Value)
				}
				got = append(got, fmt.Sprintf("%s=%s@%d", k, v, r.Timestamp))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
			// And they make a valid v2 batch.
			b := AppendBatch(nil, 1, recs)
			if _, err := ValidateBatch(b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzConvertMessageSet(f *testing.F) {
	f.Add(AppendLegacyMessage(nil, 1, 5, []byte("k"), []byte("v")))
	f.Add(gzipWrapper(AppendLegacyMessage(nil, 0, 0, nil, []byte("x"))))
	f.Fuzz(func(t *testing.T, set []byte) {
		recs, err := ConvertMessageSet(set, 1, gunzip)
		if err != nil {
			return
		}
		if _, err := ValidateBatch(AppendBatch(nil, 1, recs)); err != nil {
			t.Fatalf("converted records make a bad batch: %v", err)
		}
	})
}

func crcIEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
