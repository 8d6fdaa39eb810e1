package log

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

// fill appends n one-record batches with timestamps from the clock and
// returns them.
func fill(t *testing.T, l *Log, clock *fakeClock, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for range n {
		b := valueBatch(t, clock.Now().UnixMilli(), 1, 100)
		appendT(t, l, b)
		out = append(out, b)
		clock.Advance(time.Second)
	}
	return out
}

func TestRetention(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        func(c *Config)
		advance    time.Duration
		wantStart  func(l *Log) int64
		wantDelete int
	}{
		{
			name:      "infinite keeps all",
			cfg:       func(c *Config) {},
			wantStart: func(*Log) int64 { return 0 },
		},
		{
			name:      "retention.ms keeps young segments",
			cfg:       func(c *Config) { c.RetentionMS = time.Hour },
			wantStart: func(*Log) int64 { return 0 },
		},
		{
			name:       "retention.ms deletes everything old, rolling the active segment",
			cfg:        func(c *Config) { c.RetentionMS = time.Hour },
			advance:    2 * time.Hour,
			wantStart:  func(*Log) int64 { return 100 },
			wantDelete: -1, // all
		},
		{
			name:      "retention.bytes",
			cfg:       func(c *Config) { c.RetentionBytes = 5000 },
			wantStart: func(l *Log) int64 { return l.segs[0].base },
		},
		{
			name:      "compact policy ignores retention",
			cfg:       func(c *Config) { c.RetentionMS = time.Hour; c.CleanupPolicy = PolicyCompact },
			advance:   2 * time.Hour,
			wantStart: func(*Log) int64 { return 0 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			cfg := testConfig()
			cfg.SegmentBytes = 1000
			tc.cfg(&cfg)
			fsys := vfs.NewMem()
			l := openT(t, fsys, cfg, WithClock(clock.Now))
			defer l.Close()
			want := fill(t, l, clock, 100)
			nsegs := len(l.segs)
			clock.Advance(tc.advance)
			n, err := l.ApplyRetention()
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantDelete == -1 && n != nsegs {
				t.Fatalf("deleted %d of %d segments", n, nsegs)
			}
			// As Kafka: delete the oldest segment while the rest still hold
			// at least retention.bytes.
			if cfg.RetentionBytes > 0 && (l.Size() < cfg.RetentionBytes || l.Size()-l.segs[0].size >= cfg.RetentionBytes) {
				t.Fatalf("size %d after retention.bytes %d", l.Size(), cfg.RetentionBytes)
			}
			start := tc.wantStart(l)
			if l.StartOffset() != start || l.EndOffset() != 100 {
				t.Fatalf("start %d end %d, want start %d", l.StartOffset(), l.EndOffset(), start)
			}
			if _, err := l.Read(start-1, 10); start > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			got := readAll(t, l, start)
			for i, b := range got {
				if !bytes.Equal(b, want[int(start)+i]) {
					t.Fatalf("batch %d differs", i)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openT(t, fsys, cfg, WithClock(clock.Now))
			defer l2.Close()
			if l2.StartOffset() != start || l2.EndOffset() != 100 {
				t.Fatalf("after reopen start %d end %d", l2.StartOffset(), l2.EndOffset())
			}
		})
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	fsys := vfs.NewCrash(3)
	l := openT(t, fsys, cfg, WithClock(clock.Now))
	defer l.Close()
	want := fill(t, l, clock, 50)
	if err := l.DeleteRecordsBefore(51); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past end: %v", err)
	}
	if err := l.DeleteRecordsBefore(23); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(10); err != nil { // never moves back
		t.Fatal(err)
	}
	if l.StartOffset() != 23 || l.segs[0].base > 23 {
		t.Fatalf("start %d first segment %d", l.StartOffset(), l.segs[0].base)
	}
	if b, err := l.Read(23, 1); err != nil || !bytes.Equal(b, want[23]) {
		t.Fatalf("read at start: %v", err)
	}
	if _, err := l.Read(22, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if off, _, _ := l.OffsetForTimestamp(0); off != 23 {
		t.Fatalf("OffsetForTimestamp(0) = %d", off)
	}
	// Persisted: survives a crash.
	l2 := openT(t, fsys.CrashClone(), cfg)
	defer l2.Close()
	if l2.StartOffset() != 23 {
		t.Fatalf("start after crash %d", l2.StartOffset())
	}
	if err := l.DeleteRecordsBefore(50); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(50, 10); err != nil || len(got) != 0 {
		t.Fatalf("read at end after deleting all: %d %v", len(got), err)
	}
}

func TestTruncateTo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		to        int64
		wantEnd   int64
		wantStart int64
	}{
		{"beyond end is a no-op", 200, 90, 0},
		{"at end is a no-op", 90, 90, 0},
		{"batch boundary in last segment", 87, 87, 0},
		{"inside a batch cuts the whole batch", 44, 42, 0},
		{"segment base", 0, 0, 0},
		{"middle", 30, 30, 0},
		{"below start restarts empty", 5, 5, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.SegmentBytes = 1000
			fsys := vfs.NewCrash(5)
			l := openT(t, fsys, cfg)
			defer l.Close()
			var want [][]byte
			for i := range 30 { // 3 records per batch
				b := mkBatch(t, CodecNone, int64(i), rec("a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), rec("b", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), rec("c", "c"))
				appendT(t, l, b)
				want = append(want, b)
			}
			if tc.wantStart > 0 {
				if err := l.DeleteRecordsBefore(tc.wantStart + 3); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.TruncateTo(tc.to); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log) {
				t.Helper()
				if l.EndOffset() != tc.wantEnd || l.StartOffset() != tc.wantStart {
					t.Fatalf("end %d start %d, want %d %d", l.EndOffset(), l.StartOffset(), tc.wantEnd, tc.wantStart)
				}
				got := readAll(t, l, tc.wantStart)
				if tc.wantStart == 0 {
					if len(got) != int(tc.wantEnd/3) {
						t.Fatalf("%d batches left", len(got))
					}
					for i := range got {
						if !bytes.Equal(got[i], want[i]) {
							t.Fatalf("batch %d differs", i)
						}
					}
				}
			}
			check(l)
			l2 := openT(t, fsys.CrashClone(), cfg) // the cut is durable
			check(l2)
			_ = l2.Close()
			info := appendT(t, l, valueBatch(t, 1, 1, 1))
			if info.BaseOffset != tc.wantEnd {
				t.Fatalf("append after truncate at %d", info.BaseOffset)
			}
		})
	}
}

// TestHugeDurations: settings near Long.MAX_VALUE ms must not wrap around
// and delete or compact everything.
func TestHugeDurations(t *testing.T) {
	t.Parallel()
	huge := time.Duration(math.MaxInt64)
	if got := msBefore(time.UnixMilli(1000), huge); got != 1000-huge.Milliseconds() || got >= 0 {
		t.Fatalf("msBefore = %d", got)
	}
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionMS = huge
	cfg.CleanupPolicy = PolicyCompactDelete
	cfg.MinCompactionLagMS = huge
	clock := newClock()
	l := openT(t, vfs.NewMem(), cfg, WithClock(clock.Now))
	defer l.Close()
	fill(t, l, clock, 50)
	if err := l.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 0 || len(records(t, l)) != 50 {
		t.Fatalf("start %d, %d records", l.StartOffset(), len(records(t, l)))
	}
}
