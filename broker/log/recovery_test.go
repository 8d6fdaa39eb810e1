package log

import (
	"bytes"
	"os"
	"path"
	"testing"

	"github.com/sluicehq/sluice/internal/vfs"
)

// damage opens a file of fsys and applies f to its bytes.
func damage(t *testing.T, fsys vfs.FS, name string, f func(b []byte) []byte) {
	t.Helper()
	b, err := readWhole(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	b = f(b)
	w, err := fsys.OpenFile(name, os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = w.Sync()
	_ = w.Close()
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	type setup struct {
		fsys  vfs.FS
		segs  []int64 // segment bases after writing
		sizes []int   // batch sizes
	}
	seg := func(b int64, suf string) string { return path.Join("/p", segName(b, suf)) }
	tests := []struct {
		name      string
		clean     bool
		breakIt   func(t *testing.T, s setup)
		wantEnd   func(s setup) int64
		wantCuts  int
		wantGone  int // segments removed after a corrupt one
		rebuilt   bool
		noBatches bool
	}{
		{
			name: "torn tail of active segment",
			breakIt: func(t *testing.T, s setup) {
				damage(t, s.fsys, seg(s.segs[len(s.segs)-1], logSuffix), func(b []byte) []byte { return b[:len(b)-7] })
			},
			wantEnd: func(s setup) int64 { return 99 }, wantCuts: 1,
		},
		{
			name: "garbage appended to active segment",
			breakIt: func(t *testing.T, s setup) {
				damage(t, s.fsys, seg(s.segs[len(s.segs)-1], logSuffix), func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0xab}, 100)...) })
			},
			wantEnd: func(s setup) int64 { return 100 }, wantCuts: 1, clean: true,
		},
		{
			name: "flipped byte in a closed segment, unclean",
			breakIt: func(t *testing.T, s setup) {
				damage(t, s.fsys, seg(s.segs[1], logSuffix), func(b []byte) []byte { b[s.sizes[0]+70] ^= 0x40; return b })
			},
			wantEnd: func(s setup) int64 { return s.segs[1] + 1 }, wantCuts: 1, wantGone: -2, // every later segment
		},
		{
			name:    "missing index, clean",
			clean:   true,
			breakIt: func(t *testing.T, s setup) { _ = s.fsys.Remove(seg(s.segs[0], indexSuffix)) },
			wantEnd: func(s setup) int64 { return 100 }, rebuilt: true,
		},
		{
			name:  "corrupt time index, clean",
			clean: true,
			breakIt: func(t *testing.T, s setup) {
				damage(t, s.fsys, seg(s.segs[1], timeIndexSuffix), func(b []byte) []byte { b[4] = 9; return b })
			},
			wantEnd: func(s setup) int64 { return 100 }, rebuilt: true,
		},
		{
			name:  "corrupt offset index entry, clean",
			clean: true,
			breakIt: func(t *testing.T, s setup) {
				damage(t, s.fsys, seg(s.segs[0], indexSuffix), func(b []byte) []byte { b[len(b)-1] = 0xff; b[len(b)-2] = 0xff; return b })
			},
			wantEnd: func(s setup) int64 { return 100 }, rebuilt: true,
		},
		{
			name: "first batch torn",
			breakIt: func(t *testing.T, s setup) {
				damage(t, s.fsys, seg(0, logSuffix), func(b []byte) []byte { b[20] ^= 1; return b })
			},
			wantEnd: func(s setup) int64 { return 0 }, wantCuts: 1, wantGone: -2, noBatches: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewMem()
			l := openT(t, fsys, testConfig())
			var want [][]byte
			var sizes []int
			for i := range 100 {
				b := valueBatch(t, int64(i), 1, 50)
				appendT(t, l, b)
				want = append(want, b)
				sizes = append(sizes, len(b))
			}
			var bases []int64
			for _, s := range l.segs {
				bases = append(bases, s.base)
			}
			if len(bases) < 3 {
				t.Fatalf("want >= 3 segments, got %d", len(bases))
			}
			if tc.clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				// Simulate a crash: drop the log without Close (files stay).
				l.mu.Lock()
				l.closed = true
				l.mu.Unlock()
			}
			s := setup{fsys: fsys, segs: bases, sizes: sizes}
			tc.breakIt(t, s)
			l2, err := Open(fsys, "/p", testConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			rep := l2.Recovery()
			if len(rep.Truncations) != tc.wantCuts {
				t.Fatalf("truncations %+v, want %d", rep.Truncations, tc.wantCuts)
			}
			gone := tc.wantGone
			if gone == -2 {
				gone = len(bases) - 1
				if tc.name != "first batch torn" {
					gone = len(bases) - 2
				}
			}
			if len(rep.DeletedSegments) != gone {
				t.Fatalf("deleted %v, want %d", rep.DeletedSegments, gone)
			}
			if tc.rebuilt && rep.IndexesRebuilt == 0 {
				t.Fatal("index not rebuilt")
			}
			end := tc.wantEnd(s)
			if l2.EndOffset() != end {
				t.Fatalf("end offset %d, want %d (report %+v)", l2.EndOffset(), end, rep)
			}
			got := readAll(t, l2, 0)
			if tc.noBatches && len(got) != 0 {
				t.Fatalf("got %d batches", len(got))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("batch %d differs after recovery", i)
				}
			}
			if int64(len(got)) != end {
				t.Fatalf("read %d batches, end %d", len(got), end)
			}
			// Reads by offset work through the rebuilt indexes.
			for off := int64(0); off < end; off += 7 {
				b, err := l2.Read(off, 1)
				if err != nil || !bytes.Equal(b, want[off]) {
					t.Fatalf("Read(%d) = %d bytes, %v", off, len(b), err)
				}
			}
			if info := appendT(t, l2, valueBatch(t, 1, 1, 1)); info.BaseOffset != end {
				t.Fatalf("append after recovery at %d, want %d", info.BaseOffset, end)
			}
		})
	}
}
