package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/internal/vfs"
)

// The paired benchmarks alternate the log and its raw baseline in short
// rounds inside one benchmark (b.N rounds, the order flipping each round),
// so both see the same disk and the same CPU contention from other
// processes, and report medians over the rounds:
//
//	log-MB/s, raw-MB/s                 median rates
//	ratio                              median of the per-round log/raw rate ratios
//	x-fsync-each (append, 64 x 1 KiB)  median per-round log appends/s over raw
//	                                   Write+Sync-per-append appends/s
//
// The append baseline writes the same batches from one goroutine with one
// Sync per `appenders` writes (the pattern a perfect group commit of that
// many appenders would produce); the read baseline is sequential ReadAt of
// the same segment file in the same chunk size.

func BenchmarkPairedAppend(b *testing.B) {
	for _, size := range benchSizes {
		for _, n := range benchAppenders {
			b.Run(fmt.Sprintf("size=%s/appenders=%d", sizeName(size), n), func(b *testing.B) {
				pairedAppend(b, size, n)
			})
		}
	}
}

func pairedAppend(b *testing.B, size, n int) {
	dir := benchDir(b)
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 2 << 20
	l, err := Open(vfs.OS{}, filepath.Join(dir, "p"), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	raw, err := os.OpenFile(filepath.Join(dir, "raw"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	each, err := os.OpenFile(filepath.Join(dir, "each"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer each.Close()
	proto := benchBatch(b, size)
	perRound := max(n, min(1024, (4<<20)/len(proto))) // at least one wave of appenders
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = append([]byte(nil), proto...)
	}
	appendRound := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		left := perRound
		var failed error
		for g := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if left == 0 || failed != nil {
						mu.Unlock()
						return
					}
					left--
					mu.Unlock()
					if _, err := l.Append(context.Background(), bufs[g]); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
		return time.Since(start)
	}
	var rawSyncT time.Duration
	var rawSyncs int
	rawRound := func() time.Duration { // the same bytes, one Sync per n writes
		start := time.Now()
		for i := range perRound {
			if _, err := raw.Write(proto); err != nil {
				b.Fatal(err)
			}
			if (i+1)%n == 0 || i == perRound-1 {
				st := time.Now()
				if err := raw.Sync(); err != nil {
					b.Fatal(err)
				}
				rawSyncT += time.Since(st)
				rawSyncs++
			}
		}
		return time.Since(start)
	}
	eachCount := max(perRound/16, 4)
	eachRound := func() time.Duration { // one fsync per append
		start := time.Now()
		for range eachCount {
			if _, err := each.Write(proto); err != nil {
				b.Fatal(err)
			}
			if err := each.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	withEach := size == 1<<10 && n == 64
	var logR, rawR, ratio, xEach []float64
	bytes := float64(perRound * len(proto))
	b.ResetTimer()
	for i := range b.N {
		var lt, rt, et time.Duration
		if i%2 == 0 {
			lt, rt = appendRound(), rawRound()
		} else {
			rt, lt = rawRound(), appendRound()
		}
		if withEach {
			et = eachRound()
			xEach = append(xEach, (float64(perRound)/lt.Seconds())/(float64(eachCount)/et.Seconds()))
		}
		logR = append(logR, bytes/lt.Seconds()/1e6)
		rawR = append(rawR, bytes/rt.Seconds()/1e6)
		ratio = append(ratio, rt.Seconds()/lt.Seconds())
	}
	b.StopTimer()
	b.ReportMetric(median(logR), "log-MB/s")
	b.ReportMetric(median(rawR), "raw-MB/s")
	b.ReportMetric(median(ratio), "ratio")
	b.ReportMetric(median(logR)*1e6/float64(len(proto)), "log-appends/s")
	b.ReportMetric(float64(b.N*perRound)/counterValue(l.metrics.Fsyncs), "appends/fsync")
	if withEach {
		b.ReportMetric(median(xEach), "x-fsync-each")
	}
	var m dto.Metric
	if err := l.metrics.FsyncSeconds.Write(&m); err == nil && m.GetHistogram().GetSampleCount() > 0 {
		h := m.GetHistogram()
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1e6, "log-µs/fsync")
	}
	b.ReportMetric(rawSyncT.Seconds()/float64(rawSyncs)*1e6, "raw-µs/fsync")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func BenchmarkPairedRead(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			l, total := benchLog(b, size)
			defer l.Close()
			f, err := os.Open(l.segs[0].logPath())
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			logRound := func() time.Duration {
				start := time.Now()
				for off := int64(0); off < l.EndOffset(); {
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
				return time.Since(start)
			}
			rawRound := func() time.Duration {
				start := time.Now()
				for pos := int64(0); pos < total; {
					buf := make([]byte, 1<<20)
					n, err := f.ReadAt(buf, pos)
					if err != nil && !errors.Is(err, io.EOF) {
						b.Fatal(err)
					}
					pos += int64(n)
				}
				return time.Since(start)
			}
			var logR, rawR, ratio []float64
			b.ResetTimer()
			for i := range b.N {
				var lt, rt time.Duration
				if i%2 == 0 {
					lt, rt = logRound(), rawRound()
				} else {
					rt, lt = rawRound(), logRound()
				}
				logR = append(logR, float64(total)/lt.Seconds()/1e6)
				rawR = append(rawR, float64(total)/rt.Seconds()/1e6)
				ratio = append(ratio, rt.Seconds()/lt.Seconds())
			}
			b.StopTimer()
			b.ReportMetric(median(logR), "log-MB/s")
			b.ReportMetric(median(rawR), "raw-MB/s")
			b.ReportMetric(median(ratio), "ratio")
		})
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
