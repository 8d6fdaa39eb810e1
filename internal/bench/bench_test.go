package bench

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/kafkaclient"
)

func TestRunCountsEverything(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{Kafka: kafkaclient.Config{Brokers: c.ListenAddrs()}, Topic: "b", Partitions: 3,
		Records: 2000, ValueBytes: 64, KeyCount: 10, MaxInFlight: 100}
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != 2000 || r.ConsumedCount != 2000 || r.Bytes != 2000*64 {
		t.Fatalf("result %+v", r)
	}
	if r.LatencyP50 <= 0 || r.LatencyP99 < r.LatencyP50 || r.LatencyMax < r.LatencyP99 {
		t.Fatalf("latency percentiles out of order: %+v", r)
	}
	if _, err := Run(ctx, cfg); err == nil {
		t.Fatal("a second run on the same topic must fail: the topic exists")
	}
	withTopic := cfg
	withTopic.Topic, withTopic.Records, withTopic.ReplicationFactor = "d", 10, 1
	withTopic.TopicConfigs = map[string]string{"min.insync.replicas": "1"}
	if r, err := Run(ctx, withTopic); err != nil || r.ConsumedCount != 10 {
		t.Fatalf("run with replication factor and topic config: %+v, %v", r, err)
	}
	if _, err := Run(ctx, Config{Kafka: cfg.Kafka, Topic: "c", Partitions: 1, Records: 1, ValueBytes: 1, Acks: "2"}); err == nil {
		t.Fatal("acks=2 accepted")
	}
}
