package log

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

var propSeed = flag.Uint64("prop.seed", 0, "seed for TestCompactProperty (0: pick one and print it)")

// TestCompactProperty: random appends (keys from a small set, values and
// tombstones, every codec, several records per batch) interleaved with
// compaction passes and reopens. After every pass the latest value per
// key read back from the log equals a map model of all appends, offsets
// strictly increase and a fetch from every offset works.
func TestCompactProperty(t *testing.T) {
	t.Parallel()
	seed := *propSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("property seed %d (rerun with -prop.seed=%d)", seed, seed)
	for it := range 4 {
		s := seed + uint64(it)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			t.Parallel()
			propertyOnce(t, s)
		})
		// A key map bound of a few keys: passes clean in steps.
		t.Run(fmt.Sprint(s, "/bounded-map"), func(t *testing.T) {
			t.Parallel()
			propertyOnce(t, s, WithDedupeBufferBytes(3*(DedupeEntryOverhead+6)))
		})
	}
}

func propertyOnce(t *testing.T, seed uint64, opts ...Option) {
	rng := rand.New(rand.NewPCG(seed, 99))
	clock := newClock()
	cfg := compactConfig()
	cfg.CleanupPolicy = []string{PolicyCompact, PolicyCompactDelete}[rng.IntN(2)]
	cfg.SegmentBytes = int64(400 + rng.IntN(2000))
	cfg.DeleteRetentionMS = time.Duration(rng.IntN(3)) * time.Minute
	cfg.MinCleanableDirtyRatio = rng.Float64() * 0.5
	fsys := vfs.NewMem()
	opts = append(opts, WithClock(clock.Now))
	l := openT(t, fsys, cfg, opts...)
	defer func() { _ = l.Close() }()

	model := map[string]*string{} // nil: deleted
	nkeys := 3 + rng.IntN(20)
	for step := range 200 {
		switch r := rng.IntN(100); {
		case r < 85:
			var recs []kv
			for range 1 + rng.IntN(5) {
				k := fmt.Sprintf("key-%d", rng.IntN(nkeys))
				if rng.IntN(8) == 0 {
					recs = append(recs, kv{k: []byte(k)})
					model[k] = nil
				} else {
					v := fmt.Sprintf("v%d-%d", step, rng.IntN(1000))
					recs = append(recs, kv{k: []byte(k), v: []byte(v)})
					model[k] = &v
				}
			}
			appendT(t, l, mkBatch(t, rng.IntN(5), clock.Now().UnixMilli(), recs...))
			clock.Advance(time.Duration(rng.IntN(20)) * time.Second)
		case r < 97:
			if _, err := l.Compact(context.Background()); err != nil {
				t.Fatalf("step %d: compact: %v", step, err)
			}
			checkModel(t, l, model, step)
		default:
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openT(t, fsys, cfg, opts...)
		}
	}
	clock.Advance(time.Hour)
	if _, err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkModel(t, l, model, -1)
}

func checkModel(t *testing.T, l *Log, model map[string]*string, step int) {
	t.Helper()
	recs := records(t, l)
	got := map[string]*string{}
	for i, r := range recs {
		if i > 0 && r.off <= recs[i-1].off {
			t.Fatalf("step %d: offsets not increasing: %d after %d", step, r.off, recs[i-1].off)
		}
		if r.null {
			got[r.key] = nil
		} else {
			v := r.val
			got[r.key] = &v
		}
	}
	for k, want := range model {
		g, ok := got[k]
		switch {
		case want == nil && ok && g != nil:
			t.Fatalf("step %d: deleted key %s reads %q", step, k, *g)
		case want != nil && (!ok || g == nil || *g != *want):
			t.Fatalf("step %d: key %s = %v, want %q", step, k, g, *want)
		}
	}
	if len(got) > len(model) {
		t.Fatalf("step %d: %d keys read, %d written", step, len(got), len(model))
	}
	stride := int64(1)
	if step >= 0 {
		stride = 7 // every offset at the end; a sample in between
	}
	for off := l.StartOffset(); off < l.EndOffset(); off += stride {
		b, err := l.Read(off, 1)
		if err != nil || len(b) == 0 {
			t.Fatalf("step %d: Read(%d) = %d bytes, %v", step, off, len(b), err)
		}
		if h, _ := checkBatch(b); h.LastOffset() < off {
			t.Fatalf("step %d: Read(%d) returned a batch ending at %d", step, off, h.LastOffset())
		}
	}
}
