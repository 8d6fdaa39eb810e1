package log

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

// kv is a test record: key (nil = no key), value (nil = tombstone) and a
// timestamp delta.
type kv struct {
	k, v []byte
	ts   int64
}

func rec(k, v string) kv {
	var kb, vb []byte
	if k != "" {
		kb = []byte(k)
	}
	if v != "" {
		vb = []byte(v)
	}
	return kv{k: kb, v: vb}
}

// mkBatch builds a producer-style v2 batch (base offset 0) with codec and
// base timestamp ts.
func mkBatch(t testing.TB, codec int, ts int64, recs ...kv) []byte {
	t.Helper()
	h := BatchHeader{Attributes: int16(codec), LastOffsetDelta: int32(len(recs) - 1), BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	rs := make([]Record, len(recs))
	for i, r := range recs {
		rs[i] = Record{OffsetDelta: int32(i), TimestampDelta: r.ts, Key: r.k, Value: r.v}
		h.MaxTimestamp = max(h.MaxTimestamp, ts+r.ts)
	}
	b, err := encodeBatch(h, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// valueBatch is a batch of n records of size bytes each, keyed k0..kn.
func valueBatch(t testing.TB, ts int64, n, size int) []byte {
	recs := make([]kv, n)
	for i := range recs {
		recs[i] = kv{k: fmt.Appendf(nil, "k%d", i), v: bytes.Repeat([]byte{'v'}, size)}
	}
	return mkBatch(t, CodecNone, ts, recs...)
}

func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.RetentionMS = -1
	return c
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openT(t testing.TB, fsys vfs.FS, cfg Config, opts ...Option) *Log {
	t.Helper()
	l, err := Open(fsys, "/p", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendT(t testing.TB, l *Log, b []byte) AppendInfo {
	t.Helper()
	info, err := l.Append(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// readAll returns every batch from offset to the end, following Read.
func readAll(t testing.TB, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	off := from
	for off < l.EndOffset() {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			break
		}
		for len(b) > 0 {
			h, err := checkBatch(b)
			if err != nil {
				t.Fatalf("Read(%d) returned a bad batch: %v", off, err)
			}
			out = append(out, b[:h.Size()])
			off = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
	return out
}
