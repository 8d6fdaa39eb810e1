package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/internal/vfs"
)

// The paired benchmarks alternate the log and its raw baseline in rounds
// inside one benchmark, so both see the same disk and the same CPU
// contention, and report the ratio directly:
//
//	log-MB/s, raw-MB/s, ratio          append (or read) rate over the baseline rate
//	x-fsync-each (append, 1 KiB)       log appends/s over raw Write+Sync-per-append appends/s
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
	perRound := max(2*n, (8<<20)/len(proto)) // >= 8 MiB and 2 waves per round
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = append([]byte(nil), proto...)
	}
	var logT, rawT, eachT time.Duration
	var eachN int
	b.ResetTimer()
	for range b.N {
		// Log: n appenders share perRound appends.
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
		logT += time.Since(start)
		if failed != nil {
			b.Fatal(failed)
		}
		// Raw: the same bytes, one Sync per n writes.
		start = time.Now()
		for i := range perRound {
			if _, err := raw.Write(proto); err != nil {
				b.Fatal(err)
			}
			if (i+1)%n == 0 || i == perRound-1 {
				if err := raw.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		}
		rawT += time.Since(start)
		// One fsync per append, for the appends/s comparison (fewer: slow).
		if size == 1<<10 && n == 64 {
			start = time.Now()
			for range perRound / 16 {
				if _, err := each.Write(proto); err != nil {
					b.Fatal(err)
				}
				if err := each.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			eachT += time.Since(start)
			eachN += perRound / 16
		}
	}
	b.StopTimer()
	total := float64(b.N * perRound * len(proto))
	b.ReportMetric(total/logT.Seconds()/1e6, "log-MB/s")
	b.ReportMetric(total/rawT.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(rawT.Seconds()/logT.Seconds(), "ratio")
	b.ReportMetric(float64(b.N*perRound)/logT.Seconds(), "log-appends/s")
	b.ReportMetric(float64(b.N*perRound)/counterValue(l.metrics.Fsyncs), "appends/fsync")
	if eachN > 0 {
		b.ReportMetric((float64(b.N*perRound)/logT.Seconds())/(float64(eachN)/eachT.Seconds()), "x-fsync-each")
	}
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
			var logT, rawT time.Duration
			b.ResetTimer()
			for range b.N {
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
				logT += time.Since(start)
				start = time.Now()
				for pos := int64(0); pos < total; {
					buf := make([]byte, 1<<20)
					n, err := f.ReadAt(buf, pos)
					if err != nil && !errors.Is(err, io.EOF) {
						b.Fatal(err)
					}
					pos += int64(n)
				}
				rawT += time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(total)/logT.Seconds()/1e6, "log-MB/s")
			b.ReportMetric(float64(b.N)*float64(total)/rawT.Seconds()/1e6, "raw-MB/s")
			b.ReportMetric(rawT.Seconds()/logT.Seconds(), "ratio")
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
