package connectors_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// BenchmarkPipeline moves b.N records source -> broker (kfake) -> sink
// through the runtime. BenchmarkRawFranzGo moves the same records with a
// bare franz-go producer and group consumer on the same kind of broker:
// the peer the runtime's overhead is read against (ratio of ns/op).
//
//	go test -run '^$' -bench 'Pipeline|RawFranzGo' -benchtime 20000x ./connectors/
func BenchmarkPipeline(b *testing.B) {
	// The topic exists from the start, as for BenchmarkRawFranzGo: else the
	// sink's first group join waits for franz-go's metadata retry of a
	// topic the source has not created yet (250 ms), a fixed cost that made
	// the per-record ratio look 3-6x at 50k records.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench.items"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	up, st := memconn.NewUpstream(), memconn.NewStore()
	recs := benchRecords(b.N)
	rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
		Kafka: kafkaclient.Config{Brokers: c.ListenAddrs()}, Registerer: prometheus.NewRegistry(),
	}, []connectors.PipelineSpec{{
		Name: "bench", SourceName: "mem", Partitions: 4,
		NewSource: func() (connectors.Source, error) { return memconn.NewSource(up, 1000), nil },
		Sinks: []connectors.SinkSpec{{Name: "mem", Topics: []string{"bench.items"},
			NewSink: func() (connectors.Sink, error) { return memconn.NewSink(st), nil }}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	up.Append(recs...)
	go func() { done <- rt.Run(ctx) }()
	start := time.Now()
	var acked, written time.Duration
	for st.Writes() < b.N || up.Acked() < uint64(b.N) {
		if acked == 0 && up.Acked() >= uint64(b.N) {
			acked = time.Since(start)
		}
		if written == 0 && st.Writes() >= b.N {
			written = time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	if acked == 0 {
		acked = time.Since(start)
	}
	if written == 0 {
		written = time.Since(start)
	}
	b.ReportMetric(float64(acked.Nanoseconds())/float64(b.N), "ns-to-ack/op")
	b.ReportMetric(float64(written.Nanoseconds())/float64(b.N), "ns-to-write/op")
	b.StopTimer()
	cancel()
	<-done
}

func BenchmarkRawFranzGo(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench.items"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	recs := benchRecords(b.N)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("raw"),
		kgo.ConsumeTopics("bench.items"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	ctx := context.Background()
	b.ResetTimer()
	go func() {
		for i := range recs {
			r := &recs[i]
			prod.Produce(ctx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, nil)
		}
		_ = prod.Flush(ctx)
	}()
	for n := 0; n < b.N; {
		fs := cons.PollRecords(ctx, 1000)
		n += fs.NumRecords()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				_ = cons.CommitRecords(ctx, p.Records[len(p.Records)-1])
			}
		})
	}
}

func benchRecords(n int) []connectors.Record {
	out := make([]connectors.Record, n)
	for i := range out {
		r := change(i%1000, i/1000)
		r.Topic = "bench.items"
		out[i] = r
	}
	return out
}

// BenchmarkSourceOnly is BenchmarkPipeline without the sink: produce and
// checkpoint only.
func BenchmarkSourceOnly(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	up := memconn.NewUpstream()
	recs := benchRecords(b.N)
	rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
		Kafka: kafkaclient.Config{Brokers: c.ListenAddrs()}, Registerer: prometheus.NewRegistry(),
	}, []connectors.PipelineSpec{{
		Name: "bench", SourceName: "mem", Partitions: 4,
		NewSource: func() (connectors.Source, error) { return memconn.NewSource(up, 1000), nil },
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	up.Append(recs...)
	go func() { done <- rt.Run(ctx) }()
	for up.Acked() < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
}
