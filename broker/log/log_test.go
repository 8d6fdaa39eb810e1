package log

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

func TestAppendAssignsOffsets(t *testing.T) {
	t.Parallel()
	l := openT(t, vfs.NewMem(), testConfig())
	defer l.Close()
	var want [][]byte
	for i := range 20 {
		b := mkBatch(t, i%5, int64(1000+i), rec("a", "x"), rec("b", "y"), rec("c", "z"))
		info := appendT(t, l, b)
		if info.BaseOffset != int64(3*i) || info.LastOffset != int64(3*i+2) || info.NumRecords != 3 || info.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v", i, info)
		}
		want = append(want, b) // b now carries its base offset
	}
	if l.EndOffset() != 60 || l.StartOffset() != 0 {
		t.Fatalf("end %d start %d", l.EndOffset(), l.StartOffset())
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	if off, ts := l.MaxTimestamp(); ts != 1019 || off != 57 { // the first record of the last batch
		t.Fatalf("MaxTimestamp = %d, %d", off, ts)
	}
}

func TestAppendRefuses(t *testing.T) {
	t.Parallel()
	good := mkBatch(t, CodecNone, 1, rec("k", "v"))
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 1
	compact := testConfig()
	compact.CleanupPolicy = PolicyCompact
	small := testConfig()
	small.MaxMessageBytes = 70
	tests := []struct {
		name  string
		cfg   Config
		batch []byte
		want  error
	}{
		{"bad crc", testConfig(), badCRC, ErrCorruptBatch},
		{"short", testConfig(), good[:30], ErrCorruptBatch},
		{"trailing bytes", testConfig(), append(append([]byte(nil), good...), 0), ErrCorruptBatch},
		{"too large", small, valueBatch(t, 1, 1, 100), ErrRecordTooLarge},
		{"keyless in compacted", compact, mkBatch(t, CodecGzip, 1, rec("k", "v"), rec("", "v")), ErrKeylessCompacted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := openT(t, vfs.NewMem(), tc.cfg)
			defer l.Close()
			if _, err := l.Append(context.Background(), tc.batch); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if l.EndOffset() != 0 || l.Size() != 0 {
				t.Fatalf("refused batch was written: end %d size %d", l.EndOffset(), l.Size())
			}
		})
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	l := openT(t, vfs.NewMem(), cfg)
	t.Cleanup(func() { _ = l.Close() })
	var sizes []int
	for i := range 30 {
		b := valueBatch(t, int64(i), 4, 20) // 4 records each
		sizes = append(sizes, len(b))
		appendT(t, l, b)
	}
	if len(l.segs) < 3 {
		t.Fatalf("expected several segments, got %d", len(l.segs))
	}
	tests := []struct {
		name      string
		offset    int64
		max       int
		wantFirst int64 // base offset of the first batch; -1 = empty
		wantBytes int
		wantErr   error
	}{
		{"first", 0, 1, 0, sizes[0], nil},
		{"mid batch", 6, 1, 4, sizes[1], nil},
		{"two fit", 8, sizes[2] + sizes[3], 8, sizes[2] + sizes[3], nil},
		{"two and a bit", 8, sizes[2] + sizes[3] + 10, 8, sizes[2] + sizes[3], nil},
		{"last", 119, 1 << 20, 116, sizes[29], nil},
		{"at end", 120, 100, -1, 0, nil},
		{"past end", 121, 100, 0, 0, ErrOffsetOutOfRange},
		{"negative", -1, 100, 0, 0, ErrOffsetOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := l.Read(tc.offset, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tc.wantFirst < 0 {
				if len(b) != 0 {
					t.Fatalf("want empty, got %d bytes", len(b))
				}
				return
			}
			h, err := checkBatch(b)
			if err != nil || h.BaseOffset != tc.wantFirst || len(b) != tc.wantBytes {
				t.Fatalf("got base %d, %d bytes (%v); want base %d, %d bytes", h.BaseOffset, len(b), err, tc.wantFirst, tc.wantBytes)
			}
		})
	}
}

func TestSegmentRoll(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	cfg.SegmentMS = time.Hour
	l := openT(t, vfs.NewMem(), cfg, WithClock(clock.Now))
	defer l.Close()
	b := valueBatch(t, 1, 1, 300) // ~ 370 bytes
	appendT(t, l, append([]byte(nil), b...))
	appendT(t, l, append([]byte(nil), b...))
	if len(l.segs) != 1 {
		t.Fatalf("segments %d after 2 batches", len(l.segs))
	}
	appendT(t, l, append([]byte(nil), b...)) // would exceed 1000 bytes
	if len(l.segs) != 2 || l.segs[1].base != 2 {
		t.Fatalf("no roll by size: %d segments", len(l.segs))
	}
	clock.Advance(time.Hour)
	appendT(t, l, append([]byte(nil), b...))
	if len(l.segs) != 3 || l.segs[2].base != 3 {
		t.Fatalf("no roll by time: %d segments", len(l.segs))
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	t.Parallel()
	fsys := vfs.NewMem()
	l := openT(t, fsys, testConfig())
	// Batches with base timestamps 100, 200, ...; records at +0, +10, +20.
	for i := range 40 {
		appendT(t, l, mkBatch(t, i%5, int64(100*(i+1)), kv{k: []byte("a"), v: []byte("1")}, kv{k: []byte("b"), ts: 10, v: []byte("2")}, kv{k: []byte("c"), ts: 20, v: []byte("3")}))
	}
	check := func(l *Log) {
		tests := []struct{ ts, off, gotTs int64 }{
			{0, 0, 100}, {100, 0, 100}, {105, 1, 110}, {111, 2, 120}, {121, 3, 200},
			{2500, 72, 2500}, {4020, 119, 4020}, {4021, -1, -1},
		}
		for _, tc := range tests {
			off, ts, err := l.OffsetForTimestamp(tc.ts)
			if err != nil || off != tc.off || ts != tc.gotTs {
				t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tc.ts, off, ts, err, tc.off, tc.gotTs)
			}
		}
		if off, ts := l.MaxTimestamp(); off != 119 || ts != 4020 {
			t.Fatalf("MaxTimestamp = %d %d", off, ts)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, fsys, testConfig()) // from indexes on disk
	defer l.Close()
	if !l.Recovery().Clean {
		t.Fatal("clean shutdown not detected")
	}
	check(l)
}

func TestLogAppendTime(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := testConfig()
	cfg.TimestampType = LogAppendTime
	l := openT(t, vfs.NewMem(), cfg, WithClock(clock.Now))
	defer l.Close()
	info := appendT(t, l, mkBatch(t, CodecNone, 5, rec("a", "b")))
	if info.LogAppendTime != clock.Now().UnixMilli() || info.MaxTimestamp != info.LogAppendTime {
		t.Fatalf("%+v", info)
	}
	b, _ := l.Read(0, 1000)
	h, err := checkBatch(b)
	if err != nil || h.Attributes&attrLogAppendTime == 0 || h.MaxTimestamp != info.LogAppendTime {
		t.Fatalf("stored header %+v, %v", h, err)
	}
}

func TestReopenKeepsState(t *testing.T) {
	t.Parallel()
	for _, clean := range []bool{true, false} {
		t.Run(map[bool]string{true: "clean", false: "unclean"}[clean], func(t *testing.T) {
			t.Parallel()
			fsys := vfs.NewCrash(1)
			l := openT(t, fsys, testConfig())
			var want [][]byte
			for i := range 50 {
				b := valueBatch(t, int64(i), 2, 30)
				appendT(t, l, b)
				want = append(want, b)
			}
			var reopened vfs.FS = fsys
			if clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				reopened = fsys.CrashClone()
			}
			l2, err := Open(reopened, "/p", testConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if rep := l2.Recovery(); rep.Clean != clean || len(rep.Truncations) != 0 {
				t.Fatalf("report %+v", rep)
			}
			got := readAll(t, l2, 0)
			if len(got) != len(want) {
				t.Fatalf("got %d batches want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("batch %d differs", i)
				}
			}
			if info := appendT(t, l2, valueBatch(t, 1, 1, 1)); info.BaseOffset != 100 {
				t.Fatalf("append after reopen at %d", info.BaseOffset)
			}
		})
	}
}

func TestClosedLog(t *testing.T) {
	t.Parallel()
	l := openT(t, vfs.NewMem(), testConfig())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), valueBatch(t, 1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestLeaderEpoch(t *testing.T) {
	t.Parallel()
	l := openT(t, vfs.NewMem(), testConfig())
	defer l.Close()
	appendT(t, l, valueBatch(t, 1, 1, 1))
	l.SetLeaderEpoch(7)
	appendT(t, l, valueBatch(t, 1, 1, 1))
	got := readAll(t, l, 0)
	h0, _ := checkBatch(got[0])
	h1, err := checkBatch(got[1])
	if err != nil || h0.PartitionLeaderEpoch != 0 || h1.PartitionLeaderEpoch != 7 {
		t.Fatalf("epochs %d %d (%v)", h0.PartitionLeaderEpoch, h1.PartitionLeaderEpoch, err)
	}
}
