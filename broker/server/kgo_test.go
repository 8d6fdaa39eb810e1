package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests run the real franz-go client (kgo, kadm) against an
// in-process broker on the in-memory log.

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	// A safety net against hangs, not a pass/fail criterion.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKgoProduceConsume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []kgo.Opt
	}{
		{name: "idempotent default"},
		{name: "acks leader, not idempotent", opts: []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{name: "no compression, linger", opts: []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(5 * time.Millisecond)}},
		{name: "zstd", opts: []kgo.Opt{kgo.ProducerBatchCompression(kgo.ZstdCompression())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			ctx := testCtx(t)
			adm := kadm.NewClient(newClient(t, b.addr))
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
				t.Fatal(err)
			}
			prod := newClient(t, b.addr, append(tc.opts, kgo.DefaultProduceTopic("orders"))...)
			const n = 300
			var recs []*kgo.Record
			for i := range n {
				recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 17)), Value: []byte(strconv.Itoa(i))})
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons := newClient(t, b.addr, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxWait(50*time.Millisecond))
			got := map[int32][]string{}
			nextOffset := map[int32]int64{}
			for total := 0; total < n; {
				fs := cons.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if r.Offset != nextOffset[r.Partition] {
						t.Errorf("partition %d: offset %d, want %d", r.Partition, r.Offset, nextOffset[r.Partition])
					}
					nextOffset[r.Partition] = r.Offset + 1
					got[r.Partition] = append(got[r.Partition], string(r.Value))
					total++
				})
			}
			// Per key order: values of one key grow within its partition.
			produced := map[int32][]string{}
			for _, r := range recs {
				produced[r.Partition] = append(produced[r.Partition], string(r.Value))
			}
			for p, vals := range produced {
				if fmt.Sprint(vals) != fmt.Sprint(got[p]) {
					t.Fatalf("partition %d: consumed %v, produced %v", p, got[p], vals)
				}
			}

			ends, err := adm.ListEndOffsets(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			starts, err := adm.ListStartOffsets(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err != nil || o.Offset != nextOffset[o.Partition] {
					t.Errorf("end offset of %d: %d (%v), consumed to %d", o.Partition, o.Offset, o.Err, nextOffset[o.Partition])
				}
				sum += o.Offset
			})
			starts.Each(func(o kadm.ListedOffset) {
				if o.Err != nil || o.Offset != 0 {
					t.Errorf("start offset of %d: %d (%v)", o.Partition, o.Offset, o.Err)
				}
			})
			if sum != n {
				t.Fatalf("end offsets sum to %d, want %d", sum, n)
			}
		})
	}
}

func TestKgoListOffsetsByTimestamp(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, b.addr))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "ts"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, b.addr, kgo.DefaultProduceTopic("ts"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 5 {
		// One record per produce, so each batch has its own timestamp.
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Second)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Hour), 0},
		{base.Add(2 * time.Second), 2},
		{base.Add(2500 * time.Millisecond), 3},
		{base.Add(time.Hour), -1},
	}
	for _, tc := range tests {
		listed, err := adm.ListOffsetsAfterMilli(ctx, tc.at.UnixMilli(), "ts")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := listed.Lookup("ts", 0)
		want := tc.want
		if want == -1 {
			want = 5 // kadm maps "none" to the end offset
		}
		if o.Err != nil || o.Offset != want {
			t.Fatalf("after %v: offset %d (%v), want %d", tc.at, o.Offset, o.Err, want)
		}
	}
}

func TestKadmTopicAdmin(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, b.addr))

	compact := "compact"
	resp, err := adm.CreateTopic(ctx, 2, -1, map[string]*string{"cleanup.policy": &compact}, "changelog")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if resp.ID == [16]byte{} || resp.NumPartitions != 2 {
		t.Fatalf("create response %+v", resp)
	}
	bad := "x"
	if resp, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": &bad}, "bad1"); !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v", resp.Err)
	}
	if resp, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &bad}, "bad2"); !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v", resp.Err)
	}
	if resp, _ := adm.CreateTopic(ctx, 1, 3, nil, "bad3"); !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3: %v", resp.Err)
	}
	if resp, _ := adm.CreateTopic(ctx, 1, 1, nil, "changelog"); !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("exists: %v", resp.Err)
	}
	if resp, _ := adm.ValidateCreateTopics(ctx, 1, 1, nil, "dry"); resp.Error() != nil {
		t.Fatalf("validate only: %v", resp.Error())
	}
	if topics, _ := adm.ListTopics(ctx); topics.Has("dry") || topics.Has("bad1") || !topics.Has("changelog") {
		t.Fatalf("topics %v", topics.Names())
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "changelog")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On("changelog", nil)
	found := false
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" {
			found = c.MaybeValue() == "compact" && c.Source == 1
		}
	}
	if !found {
		t.Fatalf("cleanup.policy not compact in %+v", rc.Configs)
	}

	// Keyless produce to the compacted topic is refused.
	prod := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "changelog", Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless: %v", err)
	}

	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}
	if ar, err := adm.AlterTopicConfigs(ctx, alter, "changelog"); err != nil || ar[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, ar)
	}
	cfg, overrides := b.s.configOf(b.s.lookup("changelog"))
	if cfg.RetentionMS != 1000 || cfg.CleanupPolicy != "compact,delete" || len(overrides) != 2 {
		t.Fatalf("after alter: %+v %v", cfg, overrides)
	}
	if got := b.store.get(partitionDir(b.dir, "changelog", 1)).config(); got.RetentionMS != 1000 {
		t.Fatalf("log config not updated: %+v", got)
	}
	badAlter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("-5")}}
	if ar, _ := adm.AlterTopicConfigs(ctx, badAlter, "changelog"); len(ar) != 1 || !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad alter: %+v", ar)
	}

	if cr, err := adm.CreatePartitions(ctx, 2, "changelog"); err != nil || cr["changelog"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, cr)
	}
	if cr, _ := adm.UpdatePartitions(ctx, 3, "changelog"); !errors.Is(cr["changelog"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %+v", cr)
	}
	td, err := adm.ListTopics(ctx, "changelog")
	if err != nil || len(td["changelog"].Partitions) != 4 {
		t.Fatalf("describe: %v %+v", err, td)
	}

	if dr, err := adm.DeleteTopics(ctx, "changelog"); err != nil || dr["changelog"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	if b.store.get(partitionDir(b.dir, "changelog", 0)) != nil {
		t.Fatal("partition log not deleted")
	}
	if dr, _ := adm.DeleteTopics(ctx, "changelog"); !errors.Is(dr["changelog"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete again: %+v", dr)
	}
}

func TestKadmDeleteRecordsAndCluster(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("dr"))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	os := kadm.Offsets{}
	os.AddOffset("dr", 0, 2, -1)
	res, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("dr", 0); r.Err != nil || r.LowWatermark != 2 {
		t.Fatalf("delete records: %+v", r)
	}
	starts, _ := adm.ListStartOffsets(ctx, "dr")
	if o, _ := starts.Lookup("dr", 0); o.Offset != 2 {
		t.Fatalf("start offset %d", o.Offset)
	}
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || meta.Cluster != b.s.ClusterID() || len(meta.Brokers) != 1 {
		t.Fatalf("cluster: %v %+v", err, meta)
	}
	var req kadm.OffsetForLeaderEpochRequest
	req.Add("dr", 0, 0)
	lead, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if l := lead["dr"][0]; l.Err != nil || l.EndOffset != 4 || l.LeaderEpoch != 0 {
		t.Fatalf("offset for leader epoch: %+v", l)
	}
}

// TestKgoAutoCreate: a producer to a missing topic creates it through
// Metadata, as kcat -P relies on.
func TestKgoAutoCreate(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	cl := newClient(t, b.addr, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "fresh", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if b.s.lookup("fresh") == nil {
		t.Fatal("not created")
	}
}

// TestKgoConcurrentProducersOnePartition: several idempotent producers
// write one partition at once while a consumer long-polls it. Every
// producer's records arrive once, in its order, and the partition's
// offsets are contiguous.
func TestKgoConcurrentProducersOnePartition(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testCtx(t)
	if _, err := kadm.NewClient(newClient(t, b.addr)).CreateTopic(ctx, 1, 1, nil, "hot"); err != nil {
		t.Fatal(err)
	}
	const producers, each = 6, 300
	errs := make(chan error, producers*(each+1)) // room for every callback: a failure never blocks a producer
	for p := range producers {
		go func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic("hot"), kgo.ProducerLinger(0))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for i := range each {
				cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(p)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
					if err != nil {
						errs <- err
					}
				})
			}
			errs <- cl.Flush(ctx)
		}()
	}
	cons := newClient(t, b.addr, kgo.ConsumeTopics("hot"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := map[string]int{}
	want := int64(0)
	for want < producers*each {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != want {
				t.Fatalf("offset %d, want %d", r.Offset, want)
			}
			want++
			if v, _ := strconv.Atoi(string(r.Value)); v != next[string(r.Key)] {
				t.Fatalf("producer %s: value %d, want %d", r.Key, v, next[string(r.Key)])
			}
			next[string(r.Key)]++
		})
	}
	for flushed := 0; flushed < producers; {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		flushed++ // only Flush sends nil
	}
	if end := b.store.get(partitionDir(b.dir, "hot", 0)).EndOffset(); end != producers*each {
		t.Fatalf("end offset %d", end)
	}
}
