package redis

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// benchValueSize is the size of the after image the benchmark writes; the
// peer, redis-benchmark, SETs values of the same size (-d).
const benchValueSize = 128

// BenchmarkWrite measures sink writes/s against redis-benchmark on the same
// redis-server (started by the benchmark, no persistence), in the same run:
//
//	redis-benchmark -h 127.0.0.1 -p PORT -P 64 -t set -d 128 -n 2000000 -q
//
// It reports writes/s and the ratio to the peer (target >= 0.5).
// Run: go test -run '^$' -bench BenchmarkWrite -benchtime 1000000x ./sinks/redis/
func BenchmarkWrite(b *testing.B) {
	srv := startServer(b)
	peerArgs := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.port), "-P", "64", "-t", "set",
		"-d", strconv.Itoa(benchValueSize), "-n", "2000000", "-q"}
	out, err := exec.Command("redis-benchmark", peerArgs...).CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	peer := parseRedisBenchmark(b, string(out))
	b.Logf("redis-benchmark %s: %.0f SET/s", strings.Join(peerArgs, " "), peer)

	for _, mode := range []string{ModeString, ModeHash} {
		for _, batch := range []int{1000, 5000} {
			b.Run(fmt.Sprintf("mode=%s/batch=%d", mode, batch), func(b *testing.B) {
				s := openSink(b, Config{Pipeline: "bench" + mode, Name: "b", Addr: srv.addr(), Mode: mode})
				recs := benchRecords(100_000)
				ctx := context.Background()
				b.SetBytes(benchValueSize)
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					from := i % len(recs)
					n := min(batch, b.N-i, len(recs)-from)
					if err := s.Write(ctx, connectors.Batch{Records: recs[from : from+n]}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "writes/s")
				b.ReportMetric(rate/peer, "ratio_vs_redis-benchmark")
			})
		}
	}
}

// BenchmarkVsRedisBenchmark alternates, on one redis-server it starts,
// rounds of the peer
//
//	redis-benchmark -h 127.0.0.1 -p PORT -P 64 -t set -d 128 -n 1000000 -q
//
// and of the sink writing 500,000 records (string mode, batches of 1000,
// 100,000 distinct keys, after images of 128 bytes), and reports the median
// of the per-round ratios, so that load from other processes hits both
// sides alike. It also reports the ratio to the peer with -r 100000
// (random keys among 100,000, as the sink writes).
//
// Run: go test -run '^$' -bench BenchmarkVsRedisBenchmark -benchtime 1x ./sinks/redis/
func BenchmarkVsRedisBenchmark(b *testing.B) {
	srv := startServer(b)
	s := openSink(b, Config{Pipeline: "bench", Name: "b", Addr: srv.addr()})
	recs := benchRecords(100_000)
	ctx := context.Background()
	peer := func(extra ...string) float64 {
		args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.port), "-P", "64", "-t", "set",
			"-d", strconv.Itoa(benchValueSize), "-n", "1000000", "-q"}, extra...)
		out, err := exec.Command("redis-benchmark", args...).CombinedOutput()
		if err != nil {
			b.Fatalf("redis-benchmark: %v\n%s", err, out)
		}
		return parseRedisBenchmark(b, string(out))
	}
	sink := func() float64 {
		const n, batch = 500_000, 1000
		start := time.Now()
		for i := 0; i < n; i += batch {
			from := i % len(recs)
			if err := s.Write(ctx, connectors.Batch{Records: recs[from : from+batch]}); err != nil {
				b.Fatal(err)
			}
		}
		return n / time.Since(start).Seconds()
	}
	// The floor of any go-redis sink: pipelines of 1000 SETs of prebuilt
	// keys and values, nothing decoded.
	keys := make([]string, len(recs))
	vals := make([][]byte, len(recs))
	for i := range recs {
		keys[i] = fmt.Sprintf("floor:items:%d", i)
		vals[i] = []byte(strings.Repeat("x", benchValueSize))
	}
	floor := func() float64 {
		const n, batch = 500_000, 1000
		start := time.Now()
		for i := 0; i < n; i += batch {
			pipe := s.client.Pipeline()
			from := i % len(recs)
			for j := from; j < from+batch; j++ {
				pipe.Set(ctx, keys[j], vals[j], 0)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return n / time.Since(start).Seconds()
	}
	var ratios, ratiosR, sinks, peers, floors []float64
	for range b.N {
		for round := range 3 {
			p := peer()
			w := sink()
			pr := peer("-r", "100000")
			fl := floor()
			b.Logf("round %d: redis-benchmark %.0f SET/s, with -r 100000 %.0f SET/s, sink %.0f writes/s, bare go-redis pipelines %.0f SET/s", round, p, pr, w, fl)
			floors = append(floors, fl)
			ratios, ratiosR = append(ratios, w/p), append(ratiosR, w/pr)
			sinks, peers = append(sinks, w), append(peers, p)
		}
	}
	b.ReportMetric(median(sinks), "writes/s")
	b.ReportMetric(median(peers), "peer_SET/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(ratiosR), "ratio_vs_r100000")
	b.ReportMetric(median(floors)/median(peers), "go-redis_floor_ratio")
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func parseRedisBenchmark(b *testing.B, out string) float64 {
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "SET: "); ok {
			f := strings.Fields(rest)
			if len(f) > 1 && f[1] == "requests" {
				v, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					return v
				}
			}
		}
	}
	b.Fatalf("no SET rate in redis-benchmark output:\n%s", out)
	return 0
}

// benchRecords returns n change events of table bench.public.items whose
// after image is benchValueSize bytes.
func benchRecords(n int) []connectors.Record {
	recs := make([]connectors.Record, n)
	for i := range recs {
		head := fmt.Sprintf(`{"id":%d,"name":"item %d","price":"12.50","body":"`, i, i)
		pad := benchValueSize - len(head) - 2
		after := head + strings.Repeat("x", max(pad, 0)) + `"}`
		recs[i] = rec("bench.public.items", fmt.Sprintf(`{"id":%d}`, i), env("u", "items", "", after))
	}
	return recs
}
