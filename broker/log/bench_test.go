package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/vfs"
)

// Benchmarks run on the real disk (b.TempDir, or $SLUICE_BENCH_DIR). Each
// append benchmark has baselines measured in the same run on the same
// disk with the same bytes:
//
//	BenchmarkRawWrite/.../sync=each   Write+Sync per batch: one fsync per append
//	BenchmarkRawWrite/.../sync=groupN Write N batches, then one Sync: the best
//	                                  any group commit of N appenders can do
//
// and the read benchmark has a raw sequential ReadAt of the same file.
// Compare MB/s (ratios are in docs/benchmarks.md).

var benchSizes = []int{1 << 10, 16 << 10, 1 << 20}

var benchAppenders = []int{1, 8, 64}

func benchDir(b *testing.B) string {
	if d := os.Getenv("SLUICE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// benchBatch is one uncompressed batch of about size bytes.
func benchBatch(b *testing.B, size int) []byte {
	return valueBatch(b, 1, 1, size-80)
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range benchSizes {
		for _, n := range benchAppenders {
			b.Run(fmt.Sprintf("size=%s/appenders=%d", sizeName(size), n), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.MaxMessageBytes = 2 << 20
				l, err := Open(vfs.OS{}, filepath.Join(benchDir(b), "p"), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				proto := benchBatch(b, size)
				b.SetBytes(int64(len(proto)))
				var left atomic.Int64
				left.Store(int64(b.N))
				b.ResetTimer()
				var wg sync.WaitGroup
				var failed atomic.Value
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := append([]byte(nil), proto...)
						for left.Add(-1) >= 0 {
							if _, err := l.Append(context.Background(), buf); err != nil {
								failed.Store(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if err, ok := failed.Load().(error); ok {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			})
		}
	}
}

func BenchmarkRawWrite(b *testing.B) {
	for _, size := range benchSizes {
		for _, group := range []int{1, 8, 64} {
			name := fmt.Sprintf("size=%s/sync=group%d", sizeName(size), group)
			if group == 1 {
				name = fmt.Sprintf("size=%s/sync=each", sizeName(size))
			}
			b.Run(name, func(b *testing.B) {
				f, err := os.OpenFile(filepath.Join(benchDir(b), "raw"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				buf := benchBatch(b, size)
				b.SetBytes(int64(len(buf)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
					if (i+1)%group == 0 || i == b.N-1 {
						if err := f.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			})
		}
	}
}

// BenchmarkRead reads a log of ~64 MiB sequentially with Read (1 MiB per
// call); BenchmarkRawRead reads the same segment file with ReadAt.
func BenchmarkRead(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			l, total := benchLog(b, size)
			defer l.Close()
			b.SetBytes(total)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				off := int64(0)
				for off < l.EndOffset() {
					buf, err := l.Read(off, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					for len(buf) > 0 {
						h, _ := ParseBatchHeader(buf)
						off = h.LastOffset() + 1
						buf = buf[h.Size():]
					}
				}
			}
		})
	}
}

func BenchmarkRawRead(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			l, total := benchLog(b, size)
			name := l.segs[0].logPath()
			_ = l.Close()
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(total)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for pos := int64(0); pos < total; {
					buf := make([]byte, 1<<20) // Read allocates per call too
					n, err := f.ReadAt(buf, pos)
					if err != nil && !errors.Is(err, io.EOF) {
						b.Fatal(err)
					}
					pos += int64(n)
				}
			}
		})
	}
}

func benchLog(b *testing.B, size int) (*Log, int64) {
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 2 << 20
	cfg.FlushMS = 1 << 40 // no fsync while filling
	l, err := Open(vfs.OS{}, filepath.Join(benchDir(b), "p"), cfg)
	if err != nil {
		b.Fatal(err)
	}
	proto := benchBatch(b, size)
	for range (64 << 20) / len(proto) {
		if _, err := l.Append(context.Background(), proto); err != nil {
			b.Fatal(err)
		}
	}
	return l, l.Size()
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
