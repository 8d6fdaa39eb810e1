package kafkaproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func frameOf(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestFrameReader(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte{7}, 200<<10) // exercises the grow-as-it-arrives path
	tests := []struct {
		name    string
		in      []byte
		max     int32
		want    [][]byte
		wantErr error
	}{
		{name: "empty stream", in: nil, want: nil, wantErr: io.EOF},
		{name: "one frame", in: frameOf([]byte("abc")), want: [][]byte{[]byte("abc")}, wantErr: io.EOF},
		{name: "two frames", in: append(frameOf([]byte("a")), frameOf([]byte("bc"))...), want: [][]byte{[]byte("a"), []byte("bc")}, wantErr: io.EOF},
		{name: "empty frame", in: frameOf(nil), want: [][]byte{{}}, wantErr: io.EOF},
		{name: "large frame", in: frameOf(big), max: 1 << 20, want: [][]byte{big}, wantErr: io.EOF},
		{name: "torn prefix", in: []byte{0, 0}, wantErr: io.ErrUnexpectedEOF},
		{name: "torn body", in: frameOf([]byte("abcdef"))[:7], wantErr: io.ErrUnexpectedEOF},
		{name: "torn large body", in: frameOf(big)[:100<<10], max: 1 << 20, wantErr: io.ErrUnexpectedEOF},
		{name: "at cap", in: frameOf([]byte("abcd")), max: 4, want: [][]byte{[]byte("abcd")}, wantErr: io.EOF},
		{name: "over cap", in: frameOf([]byte("abcde")), max: 4, wantErr: ErrFrameTooLarge},
		{name: "negative", in: []byte{0xff, 0xff, 0xff, 0xff}, wantErr: ErrNegativeFrameSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fr := NewFrameReader(bytes.NewReader(tc.in), tc.max)
			var got [][]byte
			var err error
			for {
				var f []byte
				if f, err = fr.Next(); err != nil {
					break
				}
				got = append(got, f)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d frames, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
		})
	}
}

// TestFrameReaderRefusesBeforeAllocating announces a 2 GiB-1 frame, far
// over a 1 MiB cap, and checks the refusal allocates only the small error.
// Not parallel: AllocsPerRun and MemStats need the process to themselves.
func TestFrameReaderRefusesBeforeAllocating(t *testing.T) {
	prefix := []byte{0x7f, 0xff, 0xff, 0xff}
	r := bytes.NewReader(prefix)
	fr := NewFrameReader(r, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(prefix)
		_, err := fr.Next()
		var tooLarge *FrameTooLargeError
		if !errors.As(err, &tooLarge) || tooLarge.Size != 1<<31-1 {
			t.Fatalf("err = %v", err)
		}
	})
	runtime.ReadMemStats(&after)
	if allocs > 2 { // the error value, plus the test's errors.As target
		t.Fatalf("refusal made %.0f allocations, want at most 2", allocs)
	}
	// 101 runs of a refusal must not have allocated anything frame-sized.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusals allocated %d bytes", grew)
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(frameOf([]byte("hello")), int32(16))
	f.Add(append(frameOf(nil), 0, 0), int32(0))
	f.Add([]byte{0x7f, 0, 0, 0, 1}, int32(1<<20))
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe}, int32(10))
	f.Fuzz(func(t *testing.T, in []byte, max int32) {
		if max <= 0 || max > 1<<20 {
			max = 1 << 20
		}
		r := bytes.NewReader(in)
		fr := NewFrameReader(r, max)
		total := 0
		for {
			f, err := fr.Next()
			consumed := len(in) - r.Len()
			if consumed > len(in) {
				t.Fatalf("consumed %d of %d", consumed, len(in))
			}
			if err != nil {
				var tooLarge *FrameTooLargeError
				if errors.As(err, &tooLarge) && tooLarge.Size <= max {
					t.Fatalf("refused %d <= cap %d", tooLarge.Size, max)
				}
				return
			}
			if int32(len(f)) > max {
				t.Fatalf("frame of %d over cap %d", len(f), max)
			}
			total += 4 + len(f)
			if total != consumed {
				t.Fatalf("frames cover %d bytes, reader consumed %d", total, consumed)
			}
		}
	})
}
