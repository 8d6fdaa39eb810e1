package log

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

// logRec is one record as a reader sees it.
type logRec struct {
	off      int64
	key, val string
	null     bool
}

// records decodes every record of the log from its start.
func records(t testing.TB, l *Log) []logRec {
	t.Helper()
	var out []logRec
	for _, b := range readAll(t, l, l.StartOffset()) {
		h, _ := checkBatch(b)
		recs, err := decodeRecords(b, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out = append(out, logRec{off: h.BaseOffset + int64(r.OffsetDelta), key: string(r.Key), val: string(r.Value), null: r.Value == nil})
		}
	}
	return out
}

func compactConfig() Config {
	c := testConfig()
	c.CleanupPolicy = PolicyCompact
	c.SegmentBytes = 600
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetentionMS = time.Hour
	return c
}

func TestCompact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   func(c *Config)
		codec int
		// after appending k0..k4 values v0..v19 (4 rounds) plus a tombstone
		// for k0, advance the clock by this much, then compact.
		advance  time.Duration
		wantKeys map[string]string // latest values visible after compaction (k0 tombstone: "<nil>")
		wantMin  int               // at least this many records removed
		wantNone bool              // nothing should be cleaned
	}{
		{name: "none", codec: CodecNone, wantMin: 10, wantKeys: map[string]string{"k0": "<nil>", "k1": "v16", "k2": "v17", "k3": "v18", "k4": "v19"}},
		{name: "gzip", codec: CodecGzip, wantMin: 10},
		{name: "snappy", codec: CodecSnappy, wantMin: 10},
		{name: "lz4", codec: CodecLZ4, wantMin: 10},
		{name: "zstd", codec: CodecZstd, wantMin: 10},
		{name: "tombstone expires", codec: CodecNone, advance: 2 * time.Hour, wantMin: 10,
			cfg: func(c *Config) { c.MinCompactionLagMS = 0 }},
		{name: "min compaction lag", codec: CodecNone, cfg: func(c *Config) { c.MinCompactionLagMS = time.Hour }, wantNone: true},
		{name: "delete policy", codec: CodecNone, cfg: func(c *Config) { c.CleanupPolicy = PolicyDelete }, wantNone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			cfg := compactConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			l := openT(t, vfs.NewMem(), cfg, WithClock(clock.Now))
			defer l.Close()
			model := map[string]string{}
			for i := range 20 {
				k := fmt.Sprintf("k%d", i%5)
				v := fmt.Sprintf("v%d", i)
				appendT(t, l, mkBatch(t, tc.codec, clock.Now().UnixMilli(), rec(k, v), rec("x"+k, v)))
				model[k], model["x"+k] = v, v
				clock.Advance(time.Second)
			}
			appendT(t, l, mkBatch(t, tc.codec, clock.Now().UnixMilli(), rec("k0", "")))
			model["k0"] = "<nil>"
			for range 10 { // push everything above into closed segments
				appendT(t, l, mkBatch(t, tc.codec, clock.Now().UnixMilli(), rec("pad", "pppppppppppppppppppppppppppppppppppppppp")))
			}
			model["pad"] = "pppppppppppppppppppppppppppppppppppppppp"
			before := records(t, l)
			end := l.EndOffset()
			clock.Advance(tc.advance)
			st, err := l.Compact(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			after := records(t, l)
			if tc.wantNone {
				if st.Segments != 0 || len(after) != len(before) {
					t.Fatalf("cleaned %+v", st)
				}
				return
			}
			if st.RecordsRemoved < tc.wantMin || len(after) != len(before)-st.RecordsRemoved {
				t.Fatalf("stats %+v, %d -> %d records", st, len(before), len(after))
			}
			if l.EndOffset() != end {
				t.Fatalf("end offset moved %d -> %d", end, l.EndOffset())
			}
			got := map[string]string{}
			for i, r := range after {
				if i > 0 && r.off <= after[i-1].off {
					t.Fatalf("offsets not increasing at %d", i)
				}
				if r.null {
					got[r.key] = "<nil>"
				} else {
					got[r.key] = r.val
				}
			}
			if tc.advance > 0 { // the tombstone is gone, and with it k0
				if _, ok := got["k0"]; ok || st.TombstonesRemoved != 1 {
					t.Fatalf("expired tombstone kept: %v %+v", got["k0"], st)
				}
				got["k0"] = "<nil>"
			}
			for k, v := range model {
				if got[k] != v {
					t.Fatalf("key %s = %q, want %q", k, got[k], v)
				}
			}
			// Codec kept.
			for _, b := range readAll(t, l, 0) {
				if h, _ := checkBatch(b); h.Codec() != tc.codec {
					t.Fatalf("codec %d, want %d", h.Codec(), tc.codec)
				}
			}
			// Fetch from every offset still works.
			for off := l.StartOffset(); off < l.EndOffset(); off++ {
				b, err := l.Read(off, 1)
				if err != nil || len(b) == 0 {
					t.Fatalf("Read(%d) = %d bytes, %v", off, len(b), err)
				}
				if h, _ := checkBatch(b); h.LastOffset() < off {
					t.Fatalf("Read(%d) returned batch ending at %d", off, h.LastOffset())
				}
			}
			// A second pass has nothing dirty.
			if st, err := l.Compact(context.Background()); err != nil || st.Segments != 0 {
				t.Fatalf("second pass %+v %v", st, err)
			}
		})
	}
}

func TestCompactDirtyRatio(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	l := openT(t, vfs.NewMem(), cfg)
	defer l.Close()
	put := func(n int) {
		for i := range n {
			appendT(t, l, mkBatch(t, CodecNone, 1, rec(fmt.Sprintf("k%d", i%3), "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv")))
		}
	}
	put(60)
	if st, err := l.Compact(context.Background()); err != nil || st.Segments == 0 {
		t.Fatalf("first pass %+v %v", st, err)
	}
	put(8) // a little dirty data after a larger clean part
	cfg.MinCleanableDirtyRatio = 0.9
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if st, err := l.Compact(context.Background()); err != nil || st.Segments != 0 {
		t.Fatalf("pass below the dirty ratio cleaned %+v %v", st, err)
	}
	cfg.MinCleanableDirtyRatio = 0.01
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if st, err := l.Compact(context.Background()); err != nil || st.Segments == 0 {
		t.Fatalf("pass above the dirty ratio %+v %v", st, err)
	}
}

// TestCompactCrashSafe crashes at every file operation of a compaction
// pass (and with torn unsynced writes) and checks that the reopened log
// reads exactly as before or exactly as after the cleaning.
func TestCompactCrashSafe(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	clock := newClock()
	base := vfs.NewCrash(1)
	l := openT(t, base, cfg, WithClock(clock.Now))
	for i := range 30 {
		appendT(t, l, mkBatch(t, i%3, clock.Now().UnixMilli(), rec(fmt.Sprintf("k%d", i%4), fmt.Sprintf("value-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)), rec(fmt.Sprintf("j%d", i%7), "y")))
	}
	before := records(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// run compacts a copy of the log, crashing before operation at.
	var merged int
	run := func(at int) (*pointFS, []logRec, int) {
		p := &pointFS{Crash: base.CrashClone(), at: -1}
		l := openT(t, p, cfg, WithClock(clock.Now))
		defer l.Close()
		p.mu.Lock()
		p.n, p.at = 0, at
		p.mu.Unlock()
		st, err := l.Compact(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if at < 0 {
			merged = st.SegmentsMerged
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p, records(t, l), p.n
	}
	_, after, ops := run(-1)
	if merged == 0 {
		t.Fatal("the pass merged no segments; the crash points would not cover a merge")
	}
	if len(after) >= len(before) || ops < 10 {
		t.Fatalf("compaction did nothing: %d -> %d records, %d ops", len(before), len(after), ops)
	}
	for at := 1; at <= ops; at++ {
		p, _, _ := run(at)
		if p.snap == nil {
			t.Fatalf("no snapshot at op %d", at)
		}
		l, err := Open(p.snap, "/p", cfg)
		if err != nil {
			t.Fatalf("crash at op %d: reopen: %v", at, err)
		}
		got := records(t, l)
		_ = l.Close()
		if !equalRecs(got, before) && !equalRecs(got, after) {
			t.Fatalf("crash at op %d of %d: log reads neither as before (%d records) nor as after (%d): %d records",
				at, ops, len(before), len(after), len(got))
		}
	}
}

func equalRecs(a, b []logRec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCleaner: a Cleaner maintains every registered log (retention and
// compaction) and drops closed ones; RunCleaner makes a pass at once.
func TestCleaner(t *testing.T) {
	t.Parallel()
	clock := newClock()
	del := testConfig()
	del.SegmentBytes = 1000
	del.RetentionMS = time.Minute
	a := openT(t, vfs.NewMem(), del, WithClock(clock.Now))
	defer a.Close()
	fill(t, a, clock, 30)
	b, err := Open(vfs.NewMem(), "/q", compactConfig(), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		appendT(t, b, mkBatch(t, CodecNone, clock.Now().UnixMilli(), rec(fmt.Sprintf("k%d", i%2), "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv")))
	}
	c := NewCleaner(time.Hour, nil)
	c.Add(a)
	c.Add(b)
	clock.Advance(time.Hour)
	c.RunOnce(context.Background())
	if a.StartOffset() != 30 {
		t.Fatalf("retention not applied: start %d", a.StartOffset())
	}
	if n := len(records(t, b)); n >= 40 {
		t.Fatalf("not compacted: %d records", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c.RunOnce(context.Background()) // drops the closed log
	c.mu.Lock()
	_, still := c.logs[b]
	c.mu.Unlock()
	if still {
		t.Fatal("closed log still registered")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.RunCleaner(ctx); err != nil {
		t.Fatalf("RunCleaner: %v", err)
	}
}

// TestTombstoneExpiresWithoutNewData: a tombstone kept by one pass is
// removed by a later pass once delete.retention.ms has passed, even when
// nothing new was written.
func TestTombstoneExpiresWithoutNewData(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := compactConfig()
	l := openT(t, vfs.NewMem(), cfg, WithClock(clock.Now))
	defer l.Close()
	appendT(t, l, mkBatch(t, CodecNone, clock.Now().UnixMilli(), rec("gone", "v")))
	appendT(t, l, mkBatch(t, CodecNone, clock.Now().UnixMilli(), rec("gone", "")))
	for range 20 {
		appendT(t, l, mkBatch(t, CodecNone, clock.Now().UnixMilli(), rec("pad", "pppppppppppppppppppppppppppppppppppppppppp")))
	}
	if _, err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	hasTomb := func() bool {
		for _, r := range records(t, l) {
			if r.key == "gone" {
				if !r.null {
					t.Fatal("old value of a deleted key survived")
				}
				return true
			}
		}
		return false
	}
	if !hasTomb() {
		t.Fatal("young tombstone removed")
	}
	clock.Advance(cfg.DeleteRetentionMS)
	st, err := l.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hasTomb() || st.TombstonesRemoved != 1 {
		t.Fatalf("expired tombstone kept (%+v)", st)
	}
}

// TestCompactBoundedKeyMap: with a key map bound below the dirty keys,
// each pass maps at most about the bound, the cleaner offset advances
// pass by pass, and the passes end where one unbounded pass does.
func TestCompactBoundedKeyMap(t *testing.T) {
	t.Parallel()
	const entry = 3 + DedupeEntryOverhead // keys "k00".."k59"
	tests := []struct {
		name       string
		budgetKeys int
		minPasses  int
	}{
		{"bound of 20 keys", 20, 3},
		{"bound of 1 key: whole first dirty segment", 1, 3},
		{"bound above every key", 1000, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := compactConfig()
			appendAll := func(l *Log) {
				for round := range 3 {
					for i := 0; i < 60; i += 2 {
						appendT(t, l, mkBatch(t, CodecNone, 1, rec(fmt.Sprintf("k%02d", i), fmt.Sprint(round)), rec(fmt.Sprintf("k%02d", i+1), fmt.Sprint(round))))
					}
				}
				appendT(t, l, mkBatch(t, CodecNone, 1, rec("last", "x"))) // the active segment
			}
			ref := openT(t, vfs.NewMem(), cfg)
			defer ref.Close()
			appendAll(ref)
			if _, err := ref.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := records(t, ref)

			l := openT(t, vfs.NewMem(), cfg, WithDedupeBufferBytes(int64(tc.budgetKeys*entry)))
			defer l.Close()
			appendAll(l)
			passes, prev := 0, int64(0)
			for {
				st, err := l.Compact(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.CleanedTo <= prev {
					break
				}
				passes++
				prev = st.CleanedTo
				if tc.budgetKeys > 1 && st.MapBytes > int64((tc.budgetKeys+2)*entry) {
					t.Fatalf("pass %d mapped %d bytes (%d keys), bound %d keys", passes, st.MapBytes, st.KeysMapped, tc.budgetKeys)
				}
			}
			if passes < tc.minPasses {
				t.Fatalf("%d passes, want >= %d", passes, tc.minPasses)
			}
			if got := records(t, l); !equalRecs(got, want) {
				t.Fatalf("bounded passes left %d records, one unbounded pass %d", len(got), len(want))
			}
		})
	}
}

// TestCompactMergesSegments: segments that compaction shrinks are merged
// into the first of each run that fits segment.bytes; offsets, records
// and reads are unchanged, across a reopen and a crash.
func TestCompactMergesSegments(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	cfg.SegmentBytes = 1500
	fsys := vfs.NewCrash(3)
	l := openT(t, fsys, cfg)
	defer l.Close()
	for i := range 120 {
		appendT(t, l, mkBatch(t, i%5, 1, rec(fmt.Sprintf("k%d", i%6), fmt.Sprintf("value-%d-xxxxxxxxxxxxxxxxxxxxxxxx", i))))
	}
	nsegs := len(l.segs)
	st, err := l.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsMerged == 0 || len(l.segs) != nsegs-st.SegmentsMerged || len(l.segs) > 3 {
		t.Fatalf("%d segments -> %d, stats %+v", nsegs, len(l.segs), st)
	}
	want := records(t, l)
	seen := map[string]bool{}
	for _, r := range want {
		if seen[r.key] && r.off < l.segs[len(l.segs)-1].base {
			t.Fatalf("key %s twice below the active segment", r.key)
		}
		seen[r.key] = true
	}
	for off := int64(0); off < l.EndOffset(); off++ {
		b, err := l.Read(off, 1)
		if err != nil || len(b) == 0 {
			t.Fatalf("Read(%d) = %d bytes, %v", off, len(b), err)
		}
	}
	l2 := openT(t, fsys.CrashClone(), cfg)
	defer l2.Close()
	if got := records(t, l2); !equalRecs(got, want) || len(l2.segs) != len(l.segs) {
		t.Fatalf("after a crash: %d records in %d segments, want %d in %d", len(got), len(l2.segs), len(want), len(l.segs))
	}
}

func TestSwapRecord(t *testing.T) {
	t.Parallel()
	v1 := func(bases ...int64) []byte { // the version 1 layout
		b := append([]byte("SLCS"), 1, 0, 0, 0, 0, 0, 0, byte(len(bases)))
		for _, x := range bases {
			b = binary.BigEndian.AppendUint64(b, uint64(x))
		}
		return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	tests := []struct {
		name          string
		in            []byte
		bases, merged []int64
		ok            bool
	}{
		{"v2", encodeSwap([]int64{0, 40}, []int64{10, 20, 50}), []int64{0, 40}, []int64{10, 20, 50}, true},
		{"v2 empty", encodeSwap(nil, nil), []int64{}, []int64{}, true},
		{"v1", v1(3, 9), []int64{3, 9}, []int64{}, true},
		{"truncated", encodeSwap([]int64{1}, []int64{2})[:20], nil, nil, false},
		{"bad crc", append(encodeSwap([]int64{1}, nil)[:24], 0, 0, 0, 0), nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bases, merged, err := decodeSwap(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && (!slices.Equal(bases, tc.bases) || !slices.Equal(merged, tc.merged)) {
				t.Fatalf("got %v %v", bases, merged)
			}
		})
	}
}

// FuzzSwapRecord: the cleaner.swap decoder never panics, and what it
// accepts re-encodes (as version 2) to a record that decodes the same.
func FuzzSwapRecord(f *testing.F) {
	f.Add(encodeSwap([]int64{0, 40}, []int64{10}))
	f.Add(encodeSwap(nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		bases, merged, err := decodeSwap(b)
		if err != nil {
			return
		}
		b2, m2, err := decodeSwap(encodeSwap(bases, merged))
		if err != nil || !slices.Equal(b2, bases) || !slices.Equal(m2, merged) {
			t.Fatalf("re-encoding: %v %v %v", b2, m2, err)
		}
	})
}
