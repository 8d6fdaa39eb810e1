package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestInternalTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	s := b.s
	if err := s.EnsureInternalTopic("__consumer_offsets", 1, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureInternalTopic("__consumer_offsets", 5, nil); err != nil || len(s.partitionsOf(s.lookup("__consumer_offsets"))) != 1 {
		t.Fatalf("second ensure: %v", err)
	}
	for i := range 3 {
		recs := []kafkaproto.Record{{Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}, {Key: []byte("gone")}}
		if err := s.AppendRecords(ctx, "__consumer_offsets", 0, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendRecords(ctx, "__consumer_offsets", 0, []kafkaproto.Record{{Value: []byte("keyless")}}); err == nil {
		t.Fatal("keyless record accepted on a compacted internal topic")
	}
	var got []string
	if err := s.ScanRecords(ctx, "__consumer_offsets", 0, func(off int64, r kafkaproto.Record) error {
		got = append(got, fmt.Sprintf("%d:%s=%v", off, r.Key, r.Value != nil))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[0:k0=true 1:gone=false 2:k1=true 3:gone=false 4:k2=true 5:gone=false]"; fmt.Sprint(got) != want {
		t.Fatalf("scan %v, want %s", got, want)
	}

	// Clients cannot write it.
	cl := newClient(t, b.addr)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err == nil {
		t.Fatal("client produce to an internal topic accepted")
	}
	if !s.PartitionExists("__consumer_offsets", 0) || s.PartitionExists("__consumer_offsets", 1) {
		t.Fatal("PartitionExists")
	}
	id, ok := s.TopicID("__consumer_offsets")
	if name, ok2 := s.TopicName(id); !ok || !ok2 || name != "__consumer_offsets" {
		t.Fatal("topic id round trip")
	}
}

// TestScanRecordsDecompresses reads batches a client wrote compressed.
func TestScanRecordsDecompresses(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		cl := newClient(t, b.addr, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic("z"), kgo.AllowAutoTopicCreation())
		var recs []*kgo.Record
		for i := range 20 {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte("some compressible value value value")})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	n := int64(0)
	if err := b.s.ScanRecords(ctx, "z", 0, func(off int64, r kafkaproto.Record) error {
		if off != n || string(r.Key) != fmt.Sprint(n%20) {
			return fmt.Errorf("offset %d key %s", off, r.Key)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 80 {
		t.Fatalf("scanned %d records", n)
	}
	if err := b.s.ScanRecords(context.Background(), "nope", 0, nil); err == nil || kafkaproto.ErrorCode(err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", err)
	}
}

// TestInternalTopicNotAutoCreatedAndReconfigured: Metadata does not create
// __consumer_offsets; one created by a client gets the component's
// configs when the component ensures it.
func TestInternalTopicNotAutoCreatedAndReconfigured(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newClient(t, b.addr, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("produce to a missing __consumer_offsets succeeded")
	}
	if b.s.lookup("__consumer_offsets") != nil {
		t.Fatal("__consumer_offsets auto-created")
	}
	c := dialRaw(t, b.addr)
	if code := c.createTopic("__consumer_offsets", 1, nil); code != 0 {
		t.Fatalf("explicit create: %d", code)
	}
	if err := b.s.EnsureInternalTopic("__consumer_offsets", 1, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := b.s.configOf(b.s.lookup("__consumer_offsets")); !cfg.Compacted() {
		t.Fatal("ensure did not apply the component's config")
	}
}
