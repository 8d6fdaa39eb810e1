package log

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vfs"
)

var (
	crashSeed  = flag.Uint64("crash.seed", 0, "seed for TestCrash (0: pick one and print it)")
	crashIters = flag.Int("crash.iters", 20, "iterations of TestCrash")
)

// TestCrash appends from several goroutines, crashes at a random point
// (a CrashClone taken while appends are in flight), reopens and checks
// that every append reported durable before the crash is there byte for
// byte. Then it flips one CRC-covered byte of the crashed image and checks
// that nothing from the damaged batch on is served. Rerun a failure with
// -crash.seed=N.
func TestCrash(t *testing.T) {
	t.Parallel()
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crash seed %d (rerun with -crash.seed=%d)", seed, seed)
	for it := range *crashIters {
		s := seed + uint64(it)
		t.Run(fmt.Sprint(s), func(t *testing.T) { crashOnce(t, s) })
	}
}

type acked struct {
	off int64
	b   []byte
}

func crashOnce(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	fsys := vfs.NewCrash(seed)
	cfg := testConfig()
	cfg.SegmentBytes = int64(500 + rng.IntN(3000))
	cfg.IndexIntervalBytes = rng.IntN(300)
	l := openT(t, fsys, cfg)
	defer l.Close()

	const appenders = 4
	crashAfter := rng.IntN(150) // acks before the crash
	var (
		mu      sync.Mutex
		durable []acked // acked before the snapshot
		snap    *vfs.Crash
		wg      sync.WaitGroup
		nacks   int
	)
	for g := range appenders {
		wg.Add(1)
		grng := rand.New(rand.NewPCG(seed, uint64(g)+2))
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				mu.Lock()
				done := snap != nil && i > 5
				mu.Unlock()
				if done {
					return
				}
				var recs []kv
				for range 1 + grng.IntN(4) {
					recs = append(recs, kv{k: fmt.Appendf(nil, "g%d-%d", g, i), v: bytes.Repeat([]byte{byte(i)}, grng.IntN(200))})
				}
				b := mkBatch(t, grng.IntN(5), int64(i), recs...)
				info, err := l.Append(context.Background(), b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if snap == nil {
					durable = append(durable, acked{info.BaseOffset, b})
					nacks++
					if nacks >= crashAfter {
						// Crash now; appends of other goroutines are in flight.
						snap = fsys.CrashClone()
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if snap == nil {
		t.Fatal("no crash happened")
	}

	// Keep a pristine copy of the crashed image for the corruption phase.
	damaged := snap.CrashClone()
	l2, err := Open(snap, "/p", cfg)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	byOff := map[int64][]byte{}
	for _, b := range readAll(t, l2, 0) {
		h, _ := checkBatch(b)
		byOff[h.BaseOffset] = b
	}
	for _, a := range durable {
		if !bytes.Equal(byOff[a.off], a.b) {
			t.Fatalf("acked batch at %d lost or changed after crash (recovery %+v)", a.off, l2.Recovery())
		}
	}
	_ = l2.Close()

	// Corrupt one CRC-covered byte (not base offset, not leader epoch) of
	// some batch and check nothing from that batch on is served.
	names, _ := damaged.ReadDir("/p")
	var logs []string
	for _, n := range names {
		if _, ok := parseSegName(n); ok {
			logs = append(logs, n)
		}
	}
	name := path.Join("/p", logs[rng.IntN(len(logs))])
	data, _ := readWhole(damaged, name)
	if len(data) == 0 {
		return
	}
	segBase, _ := parseSegName(path.Base(name))
	// Find the batches in the file and pick one.
	var starts []int
	for pos := 0; pos < len(data); {
		h, err := checkBatch(data[pos:])
		if err != nil {
			break
		}
		starts = append(starts, pos)
		pos += h.Size()
	}
	if len(starts) == 0 {
		return
	}
	bi := starts[rng.IntN(len(starts))]
	h, _ := checkBatch(data[bi:])
	at := bi + crcOffset + rng.IntN(h.Size()-crcOffset)
	data[at] ^= byte(1 + rng.IntN(255))
	w, _ := damaged.OpenFile(name, os.O_RDWR|os.O_TRUNC, 0)
	_, _ = w.Write(data)
	_ = w.Sync()
	_ = w.Close()
	l3, err := Open(damaged, "/p", cfg)
	if err != nil {
		t.Fatalf("reopen after corruption: %v", err)
	}
	defer l3.Close()
	if len(l3.Recovery().Truncations) == 0 {
		t.Fatalf("corruption at %s byte %d not reported", name, at)
	}
	for _, b := range readAll(t, l3, 0) {
		bh, _ := checkBatch(b)
		if bh.BaseOffset >= h.BaseOffset {
			t.Fatalf("served batch at %d at/after the corrupt batch at %d (segment %d)", bh.BaseOffset, h.BaseOffset, segBase)
		}
		if !bytes.Equal(b, byOff[bh.BaseOffset]) {
			t.Fatalf("served batch at %d differs", bh.BaseOffset)
		}
	}
}
