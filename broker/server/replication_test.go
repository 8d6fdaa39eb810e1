package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/cluster"
	"github.com/sluicehq/sluice/broker/kafkaproto"
)

// node is one in-process cluster member: its log store and data dir
// survive a stop, so it can be restarted.
type node struct {
	id    int32
	store *memStore
	dir   string
	opts  []brokerOpt
	reg   *prometheus.Registry // a fresh one per start
	b     *testBroker
}

// testCluster is several Servers sharing one fakeCluster, talking to each
// other over real connections.
type testCluster struct {
	t     *testing.T
	fc    *fakeCluster
	nodes map[int32]*node
	disk  bool // broker/log in the data dirs instead of memStores
}

func newTestCluster(t *testing.T, n int, opts ...brokerOpt) *testCluster {
	t.Helper()
	return newTestClusterOf(t, n, false, opts...)
}

func newTestClusterOf(t *testing.T, n int, disk bool, opts ...brokerOpt) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, fc: newFakeCluster(), nodes: map[int32]*node{}, disk: disk}
	for id := int32(1); id <= int32(n); id++ {
		tc.nodes[id] = &node{id: id, store: newMemStore(), dir: t.TempDir(), opts: opts}
		tc.start(id)
	}
	return tc
}

// start (re)starts a node and registers it, unfenced, with its address.
func (tc *testCluster) start(id int32) *testBroker {
	t := tc.t
	t.Helper()
	n := tc.nodes[id]
	cfg := Config{DataDir: n.dir, NodeID: id, Configs: map[string]string{}, Logger: testLogger(t).With("node", id)}
	for _, o := range n.opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc.fc.register(t, id, ln.Addr().String())
	n.reg = prometheus.NewRegistry()
	sopts := []Option{WithCluster(tc.fc), WithRegisterer(n.reg)}
	if !tc.disk {
		sopts = append(sopts, withLogOpener(n.store.open))
	}
	s, err := New(cfg, sopts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	n.b = &testBroker{t: t, s: s, addr: ln.Addr().String(), store: n.store, dir: n.dir, stop: stop}
	return n.b
}

func (tc *testCluster) stop(id int32) {
	tc.t.Helper()
	if err := tc.nodes[id].b.stop(); err != nil {
		tc.t.Fatal(err)
	}
}

func (tc *testCluster) addrs() []string {
	var out []string
	for _, n := range tc.nodes {
		out = append(out, n.b.addr)
	}
	return out
}

func (tc *testCluster) createTopic(name string, partitions int32, rf int16, configs map[string]string) {
	tc.t.Helper()
	spec := cluster.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: rf, Configs: configs}
	if _, err := tc.nodes[1].b.s.createTopicCluster(spec, false); err != nil {
		tc.t.Fatal(err)
	}
}

// batches is a copy of a node's partition log.
func (tc *testCluster) batches(id int32, topic string, p int32) []memBatch {
	n := tc.nodes[id]
	if tc.disk {
		return readAll(tc.t, n.b.s, topic, p)
	}
	l := n.store.get(partitionDir(n.dir, topic, p))
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

// waitUntil polls cond; the bound is a safety net, not a pass criterion.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameLogs reports whether the nodes hold the partition byte for byte at
// the same offsets, with at least want batches.
func (tc *testCluster) sameLogs(topic string, p int32, want int, ids ...int32) bool {
	ref := tc.batches(ids[0], topic, p)
	if len(ref) < want {
		return false
	}
	for _, id := range ids[1:] {
		got := tc.batches(id, topic, p)
		if len(got) != len(ref) {
			return false
		}
		for i := range got {
			if got[i].base != ref[i].base || !bytes.Equal(got[i].b, ref[i].b) {
				return false
			}
		}
	}
	return true
}

func (tc *testCluster) raw(id int32) *rawConn { return dialRaw(tc.t, tc.nodes[id].b.addr) }

func TestReplicationByteForByte(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3)
	tc.createTopic("r", 1, 3, nil)
	if p := tc.fc.partition("r", 0); p.Leader != 1 || len(p.ISR) != 3 {
		t.Fatalf("placement %+v", p)
	}
	c := tc.raw(1)
	for i := range 20 {
		code, base := c.produce("r", 0, makeBatch(batchOpts{keys: [][]byte{[]byte(fmt.Sprint(i)), []byte("x")}}))
		if code != 0 || base != int64(2*i) {
			t.Fatalf("produce %d: code %d base %d", i, code, base)
		}
	}
	// acks=all answered: the high watermark covers everything, and both
	// followers hold the leader's bytes at the same offsets.
	if hw := tc.nodes[1].b.s.lookup("r").partitions[0].hw.Load(); hw != 40 {
		t.Fatalf("leader hw %d", hw)
	}
	waitUntil(t, "followers equal the leader", func() bool { return tc.sameLogs("r", 0, 20, 1, 2, 3) })
	// A follower's epoch cache matches the leader's (epoch 0 at 0).
	for _, id := range []int32{2, 3} {
		p := tc.nodes[id].b.s.lookup("r").partitions[0]
		if e, end := p.log.EndOffsetForEpoch(0); e != 0 || end != 40 {
			t.Fatalf("node %d epoch 0 ends at (%d, %d)", id, e, end)
		}
	}
}

func TestNotLeaderOnFollower(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2)
	tc.createTopic("f", 1, 2, nil)
	c := tc.raw(2)
	if code, _ := c.produce("f", 0, makeBatch(batchOpts{})); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce on follower: code %d", code)
	}
	id := tc.nodes[2].b.s.lookup("f").id
	resp := c.roundTrip(fetchReq("f", id, 1<<20, 0, 0, fetchPart{partition: 0, offset: 0, maxBytes: 1 << 20}), 12).(*kmsg.FetchResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("consumer fetch on follower: code %d", code)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "f"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp, lp.CurrentLeaderEpoch = -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	if code := c.roundTrip(lo, 7).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("list offsets on follower: code %d", code)
	}
	// A broker the image shows fenced leads nothing, even where the image
	// still names it (a replayed image after a restart).
	tc.fc.edit(func(im *cluster.Image) {
		b := im.Brokers[1]
		b.Fenced = true
		im.Brokers[1] = b
	})
	waitUntil(t, "node 1 applies the image", func() bool { return !tc.nodes[1].b.s.cs.serving.Load() })
	if code, _ := tc.raw(1).produce("f", 0, makeBatch(batchOpts{})); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce on a fenced leader: code %d", code)
	}
	tc.fc.register(t, 1, tc.nodes[1].b.addr)
	waitUntil(t, "node 1 applies the image", func() bool { return tc.nodes[1].b.s.cs.serving.Load() })
	// Metadata from any node names the leader, replicas and ISR.
	md := c.roundTrip(kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse)
	if len(md.Brokers) != 2 || md.ClusterID == nil || *md.ClusterID != "fake-cluster" {
		t.Fatalf("metadata brokers %+v", md.Brokers)
	}
	for _, mt := range md.Topics {
		if *mt.Topic == "f" {
			mp := mt.Partitions[0]
			if mp.Leader != 1 || len(mp.Replicas) != 2 || len(mp.ISR) != 2 {
				t.Fatalf("metadata partition %+v", mp)
			}
		}
	}
}

func TestAcksAllWaitsForFollowers(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3)
	tc.createTopic("w", 1, 3, nil)
	c := tc.raw(1)
	if code, _ := c.produce("w", 0, makeBatch(batchOpts{})); code != 0 {
		t.Fatalf("produce: %d", code)
	}
	tc.stop(3) // still in the ISR: the lag time is 30 s
	req := produceReq("w", 0, -1, makeBatch(batchOpts{}))
	req.TimeoutMillis = 300
	resp := c.roundTrip(req, 9).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=all with an ISR member away: code %d", code)
	}
	// The batch is in the leader's log but consumers do not see it.
	p := tc.nodes[1].b.s.lookup("w").partitions[0]
	if hw, leo := p.hw.Load(), p.leo.Load(); hw != 1 || leo != 2 {
		t.Fatalf("hw %d leo %d", hw, leo)
	}
	id := p.topicID
	f := c.roundTrip(fetchReq("w", id, 1<<20, 0, 0, fetchPart{partition: 0, offset: 1, maxBytes: 1 << 20}), 12).(*kmsg.FetchResponse)
	if fp := f.Topics[0].Partitions[0]; fp.ErrorCode != 0 || len(fp.RecordBatches) != 0 || fp.HighWatermark != 1 {
		t.Fatalf("consumer fetch above the hw: code %d, %d bytes, hw %d", fp.ErrorCode, len(fp.RecordBatches), fp.HighWatermark)
	}
	// acks=1 answers after the local append.
	if resp := c.roundTrip(produceReq("w", 0, 1, makeBatch(batchOpts{})), 9).(*kmsg.ProduceResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acks=1: %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	// The follower comes back: the high watermark covers everything.
	tc.start(3)
	waitUntil(t, "hw reaches the log end", func() bool { return p.hw.Load() == 3 })
	waitUntil(t, "replicas equal", func() bool { return tc.sameLogs("w", 0, 3, 1, 2, 3) })
}

func TestISRShrinkAndExpand(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2, withBrokerConfig("replica.lag.time.max.ms", "1000"), withBrokerConfig("replica.fetch.wait.max.ms", "50"))
	tc.createTopic("i", 1, 2, map[string]string{"min.insync.replicas": "2"})
	c := tc.raw(1)
	if code, _ := c.produce("i", 0, makeBatch(batchOpts{})); code != 0 {
		t.Fatalf("produce: %d", code)
	}
	tc.stop(2)
	waitUntil(t, "ISR shrinks to the leader", func() bool { return slices.Equal(tc.fc.partition("i", 0).ISR, []int32{1}) })
	waitUntil(t, "the leader sees its new ISR", func() bool { return gauge(t, tc.nodes[1].reg, "sluice_server_under_replicated_partitions") == 1 })
	if v := gauge(t, tc.nodes[1].reg, "sluice_server_isr_shrinks_total"); v != 1 {
		t.Fatalf("isr shrinks %v", v)
	}
	if code, _ := c.produce("i", 0, makeBatch(batchOpts{})); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all below min.insync.replicas: code %d", code)
	}
	if resp := c.roundTrip(produceReq("i", 0, 1, makeBatch(batchOpts{})), 9).(*kmsg.ProduceResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acks=1 below min.insync.replicas: %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	tc.start(2)
	waitUntil(t, "ISR expands", func() bool { return len(tc.fc.partition("i", 0).ISR) == 2 })
	waitUntil(t, "the leader sees its new ISR", func() bool { return gauge(t, tc.nodes[1].reg, "sluice_server_under_replicated_partitions") == 0 })
	if v := gauge(t, tc.nodes[1].reg, "sluice_server_isr_expands_total"); v != 1 {
		t.Fatalf("isr expands %v", v)
	}
	if code, _ := c.produce("i", 0, makeBatch(batchOpts{})); code != 0 {
		t.Fatalf("acks=all after re-expansion: %d", code)
	}
	waitUntil(t, "replicas equal", func() bool { return tc.sameLogs("i", 0, 3, 1, 2) })
}

func TestFailoverTruncatesDivergentTail(t *testing.T) {
	t.Parallel()
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			t.Parallel()
			testFailover(t, disk)
		})
	}
}

func testFailover(t *testing.T, disk bool) {
	tc := newTestClusterOf(t, 3, disk)
	tc.createTopic("fo", 1, 3, nil)
	c := tc.raw(1)
	for range 3 {
		if code, _ := c.produce("fo", 0, makeBatch(batchOpts{})); code != 0 {
			t.Fatalf("produce: %d", code)
		}
	}
	tc.stop(2)
	tc.stop(3)
	// Written only on the old leader: acks=1, never replicated.
	for range 2 {
		if resp := c.roundTrip(produceReq("fo", 0, 1, makeBatch(batchOpts{keys: [][]byte{[]byte("lost")}})), 9).(*kmsg.ProduceResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatal("acks=1 produce failed")
		}
	}
	tc.stop(1)
	tc.fc.fence(1)
	if p := tc.fc.partition("fo", 0); p.Leader != 2 || p.LeaderEpoch != 1 {
		t.Fatalf("after fencing 1: %+v", p)
	}
	tc.start(2)
	tc.start(3)
	c2 := tc.raw(2)
	for range 2 {
		if code, _ := c2.produce("fo", 0, makeBatch(batchOpts{keys: [][]byte{[]byte("new")}})); code != 0 {
			t.Fatalf("produce on the new leader: %d", code)
		}
	}
	tc.start(1)
	waitUntil(t, "all replicas equal", func() bool { return tc.sameLogs("fo", 0, 5, 2, 1, 3) })
	for _, b := range tc.batches(1, "fo", 0) {
		if bytes.Contains(b.b, []byte("lost")) {
			t.Fatalf("the old leader kept its unreplicated tail at %d", b.base)
		}
	}
	waitUntil(t, "the old leader rejoins the ISR", func() bool { return len(tc.fc.partition("fo", 0).ISR) == 3 })

	// OffsetForLeaderEpoch at the new leader: epoch 0 ended at 3; the
	// current leader epoch is checked.
	for _, tt := range []struct {
		current, epoch int32
		code           int16
		endEpoch       int32
		end            int64
	}{
		{current: 1, epoch: 0, endEpoch: 0, end: 3},
		{current: 1, epoch: 1, endEpoch: 1, end: 5},
		{current: -1, epoch: 0, endEpoch: 0, end: 3},
		{current: 0, epoch: 0, code: kerr.FencedLeaderEpoch.Code},
		{current: 2, epoch: 0, code: kerr.UnknownLeaderEpoch.Code},
	} {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = 3
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "fo"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = tt.current, tt.epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		got := c2.roundTrip(req, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
		if got.ErrorCode != tt.code || (tt.code == 0 && (got.LeaderEpoch != tt.endEpoch || got.EndOffset != tt.end)) {
			t.Errorf("current %d epoch %d: code %d, (%d, %d)", tt.current, tt.epoch, got.ErrorCode, got.LeaderEpoch, got.EndOffset)
		}
	}
	// The old leader, now a follower, answers none of it.
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "fo"
	rt.Partitions = append(rt.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	if code := tc.raw(1).roundTrip(req, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Errorf("OffsetForLeaderEpoch on a follower: code %d", code)
	}
	// DescribeCluster lists the brokers of the image; producer ids come
	// from the controller's blocks.
	dc := c2.roundTrip(kmsg.NewPtrDescribeClusterRequest(), 0).(*kmsg.DescribeClusterResponse)
	if dc.ClusterID != "fake-cluster" || len(dc.Brokers) != 3 || dc.ControllerID != 1 {
		t.Errorf("describe cluster: %+v", dc)
	}
	ip := c2.roundTrip(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 || ip.ProducerID < 1000 {
		t.Errorf("init producer id: code %d id %d", ip.ErrorCode, ip.ProducerID)
	}
}

func TestKgoIdempotentAcrossLeaderChange(t *testing.T) {
	t.Parallel()
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			t.Parallel()
			testKgoAcrossLeaderChange(t, disk)
		})
	}
}

func testKgoAcrossLeaderChange(t *testing.T, disk bool) {
	tc := newTestClusterOf(t, 3, disk)
	tc.createTopic("k", 1, 3, nil)
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.addrs()...), kgo.DefaultProduceTopic("k"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(50*time.Millisecond), kgo.ProducerLinger(0),
		kgo.RecordRetries(1000), kgo.MaxBufferedRecords(20), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 2000
	errs := make(chan error, n)
	var acked atomic.Int64
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range n {
			cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, func(_ *kgo.Record, err error) {
				acked.Add(1)
				errs <- err
			})
		}
	}()
	// The leader stops with records in flight (at most 20 buffered).
	waitUntil(t, "a quarter is acknowledged", func() bool { return acked.Load() >= n/4 })
	tc.stop(1)
	tc.fc.fence(1)
	<-produced
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	if p := tc.fc.partition("k", 0); p.Leader == 1 || p.LeaderEpoch != 1 {
		t.Fatalf("leadership did not move: %+v", p)
	}
	consumer := newClient(t, tc.nodes[2].b.addr, kgo.ConsumeTopics("k"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	for len(seen) < n {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d distinct of %d", len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	for v, k := range seen {
		if k != 1 {
			t.Fatalf("value %s seen %d times", v, k)
		}
	}
	// One offset per record: a duplicate would push the end past n.
	leader := tc.fc.partition("k", 0).Leader
	if hw := tc.nodes[leader].b.s.lookup("k").partitions[0].hw.Load(); hw != n {
		t.Fatalf("high watermark %d, want %d", hw, n)
	}
	tc.start(1)
	waitUntil(t, "all replicas equal", func() bool {
		p := tc.fc.partition("k", 0)
		return tc.sameLogs("k", 0, 1, p.Leader, 1, 2, 3)
	})
}

func TestFollowerBelowLeaderStart(t *testing.T) {
	t.Parallel()
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			t.Parallel()
			testFollowerBelowLeaderStart(t, disk)
		})
	}
}

func testFollowerBelowLeaderStart(t *testing.T, disk bool) {
	tc := newTestClusterOf(t, 2, disk, withBrokerConfig("replica.lag.time.max.ms", "1000"), withBrokerConfig("replica.fetch.wait.max.ms", "50"))
	tc.createTopic("s", 1, 2, nil)
	c := tc.raw(1)
	if code, _ := c.produce("s", 0, makeBatch(batchOpts{})); code != 0 {
		t.Fatalf("produce: %d", code)
	}
	tc.stop(2)
	waitUntil(t, "ISR shrinks to the leader", func() bool { return slices.Equal(tc.fc.partition("s", 0).ISR, []int32{1}) })
	for range 4 {
		if code, _ := c.produce("s", 0, makeBatch(batchOpts{})); code != 0 {
			t.Fatalf("produce: %d", code)
		}
	}
	p := tc.nodes[1].b.s.lookup("s").partitions[0]
	if lw, err := deleteRecords(p, 4); err != nil || lw != 4 {
		t.Fatalf("delete records: %d %v", lw, err)
	}
	// The follower's log end (1) is below the leader's start (4): it
	// restarts from there and drops what it had.
	tc.start(2)
	waitUntil(t, "the follower catches up from the leader's start", func() bool {
		l := tc.nodes[2].b.s.lookup("s").partitions[0].log
		return l.StartOffset() == 4 && l.EndOffset() == 5 && tc.sameLogs("s", 0, 1, 1, 2)
	})
	waitUntil(t, "ISR expands", func() bool { return len(tc.fc.partition("s", 0).ISR) == 2 })
}

func TestHighWatermarkCheckpoint(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2)
	tc.createTopic("h", 1, 2, nil)
	c := tc.raw(1)
	for range 3 {
		if code, _ := c.produce("h", 0, makeBatch(batchOpts{})); code != 0 {
			t.Fatalf("produce: %d", code)
		}
	}
	fp := tc.nodes[2].b.s.lookup("h").partitions[0]
	waitUntil(t, "the follower learns the hw", func() bool { return fp.hw.Load() == 3 })
	tc.stop(2)
	b, err := os.ReadFile(filepath.Join(tc.nodes[2].dir, hwCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	var cp hwCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil || cp.HW["h-0"] != 3 {
		t.Fatalf("checkpoint %s (%v)", b, err)
	}
	// A restarted replica starts from min(checkpoint, log end): here the
	// log was cut below the checkpoint (a lost tail).
	l := tc.nodes[2].store.get(partitionDir(tc.nodes[2].dir, "h", 0))
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	tc.stop(1) // still the leader in the image: nobody teaches node 2 a hw
	b2 := tc.start(2)
	if hw := b2.s.lookup("h").partitions[0].hw.Load(); hw != 2 {
		t.Fatalf("hw after restart %d, want 2", hw)
	}
}

// gauge is the value of an unlabelled counter or gauge, -1 if absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return -1
}

// readAll reads a running node's partition log through partitionLog.
func readAll(t *testing.T, s *Server, topic string, index int32) []memBatch {
	t.Helper()
	tp := s.lookup(topic)
	if tp == nil {
		return nil
	}
	p := s.partitionOf(tp, index)
	if p == nil {
		return nil
	}
	var out []memBatch
	for off := p.log.StartOffset(); off < p.log.EndOffset(); {
		b, err := p.log.Read(off, 1<<20)
		if err != nil || len(b) == 0 {
			return out // truncated or closed under us: the caller polls again
		}
		_ = kafkaproto.SplitBatches(b, func(h kafkaproto.BatchHeader, raw []byte) bool {
			last := h.BaseOffset + int64(h.LastOffsetDelta)
			out = append(out, memBatch{base: h.BaseOffset, last: last, b: slices.Clone(raw)})
			off = last + 1
			return true
		})
	}
	return out
}

func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2)
	tc.createTopic("a", 1, 2, map[string]string{"min.insync.replicas": "2"})
	c := tc.raw(1)
	if code, _ := c.produce("a", 0, makeBatch(batchOpts{})); code != 0 {
		t.Fatalf("produce: %d", code)
	}
	tc.stop(2)
	p := tc.nodes[1].b.s.lookup("a").partitions[0]
	shrunk := make(chan struct{})
	go func() {
		defer close(shrunk)
		// Once the batch is appended and waits, the controller takes the
		// follower out of the ISR (as after the lag time): the batch
		// commits, on fewer replicas than asked.
		for deadline := time.Now().Add(20 * time.Second); p.leo.Load() < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		tc.fc.edit(func(im *cluster.Image) {
			cp := &im.Topics["a"].Partitions[0]
			cp.ISR = []int32{1}
			cp.PartitionEpoch++
		})
	}()
	req := produceReq("a", 0, -1, makeBatch(batchOpts{}))
	req.TimeoutMillis = 20000
	code := c.roundTrip(req, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	<-shrunk
	if code != kerr.NotEnoughReplicasAfterAppend.Code {
		t.Fatalf("code %d, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", code)
	}
	if hw := p.hw.Load(); hw != 2 {
		t.Fatalf("hw %d", hw)
	}
}

func TestKadmTopicAdminInCluster(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3)
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, tc.nodes[2].b.addr))
	hasReplicas := func(topic string, parts int) bool {
		for _, n := range tc.nodes {
			tp := n.b.s.lookup(topic)
			if tp == nil || len(n.b.s.partitionsOf(tp)) != parts {
				return false
			}
			for i := range parts {
				if n.b.s.partitionOf(tp, int32(i)) == nil {
					return false
				}
			}
		}
		return true
	}

	resp, err := adm.CreateTopic(ctx, 2, 3, nil, "adm")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if im, _ := tc.fc.Image(); resp.ID != im.Topics["adm"].ID || resp.ReplicationFactor != 3 {
		t.Fatalf("create response %+v", resp)
	}
	// The answering node (kadm sends admin requests to the controller the
	// metadata names: node 1) has applied the change; the others follow.
	if tp := tc.nodes[1].b.s.lookup("adm"); tp == nil || tp.id != resp.ID {
		t.Fatal("node 1 answered before applying the image")
	}
	waitUntil(t, "every node holds a replica of both partitions", func() bool { return hasReplicas("adm", 2) })
	if resp, _ := adm.CreateTopic(ctx, 1, 4, nil, "too-many"); !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 4 on 3 brokers: %v", resp.Err)
	}
	if _, err := adm.CreatePartitions(ctx, 1, "adm"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every node holds the new partition", func() bool { return hasReplicas("adm", 3) })
	v := "1234567"
	if r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &v}}, "adm"); err != nil || r[0].Err != nil {
		t.Fatalf("alter configs: %v %v", err, r)
	}
	if im, _ := tc.fc.Image(); im.Topics["adm"].Configs["retention.ms"] != v {
		t.Fatalf("controller configs %v", im.Topics["adm"].Configs)
	}
	waitUntil(t, "every node applies the config", func() bool {
		for _, n := range tc.nodes {
			if cfg, _ := n.b.s.configOf(n.b.s.lookup("adm")); cfg.RetentionMS != 1234567 {
				return false
			}
		}
		return true
	})
	md, err := adm.Metadata(ctx, "adm")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics["adm"].Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 || p.Leader != p.Replicas[0] {
			t.Fatalf("metadata %+v", p)
		}
	}
	if r, err := adm.DeleteTopics(ctx, "adm"); err != nil || r["adm"].Err != nil {
		t.Fatalf("delete: %v %v", err, r)
	}
	waitUntil(t, "every node drops the topic and its logs", func() bool {
		for _, n := range tc.nodes {
			if n.b.s.lookup("adm") != nil {
				return false
			}
			if l := n.store.get(partitionDir(n.dir, "adm", 0)); l != nil {
				return false
			}
		}
		return true
	})
}

func TestClusterOrphanDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"ghost-0", "kept-0", "kept-1", clusterMetadataDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fc := newFakeCluster()
	fc.register(t, 1, "127.0.0.1:1")
	fc.register(t, 2, "127.0.0.1:2")
	// kept-0 has a replica here, kept-1 only on node 2.
	if _, err := fc.CreateTopic(context.Background(), cluster.TopicSpec{Name: "kept", Assignment: [][]int32{{1}, {2}}}, false); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	s, err := New(Config{DataDir: dir, NodeID: 1, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))}, withLogOpener(newMemStore().open), WithCluster(fc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "ghost-0") || !strings.Contains(out, "kept-1") || strings.Contains(out, "kept-0") || strings.Contains(out, clusterMetadataDir) {
		t.Fatalf("orphans reported: %s", out)
	}
	// A partition with no replica here still exists (group commits).
	if !s.PartitionExists("kept", 1) || s.PartitionExists("kept", 2) {
		t.Fatal("PartitionExists ignores partitions hosted elsewhere")
	}
}

var replicationN = flag.Int("replication.n", 200, "batches TestReplicatedProduceRate produces (a larger run measures)")

// TestReplicatedProduceRate produces 1 KiB batches with acks=all, one at a
// time, to a 3-replica partition on broker/log and logs the rate; every
// replica must end equal. The figure is reported, never asserted.
func TestReplicatedProduceRate(t *testing.T) {
	t.Parallel()
	tc := newTestClusterOf(t, 3, true)
	tc.createTopic("rate", 1, 3, nil)
	c := tc.raw(1)
	n := *replicationN
	val := bytes.Repeat([]byte("v"), 1000)
	start := time.Now()
	for i := range n {
		b := makeBatch(batchOpts{keys: [][]byte{val}})
		if code, base := c.produce("rate", 0, b); code != 0 || base != int64(i) {
			t.Fatalf("produce %d: code %d base %d", i, code, base)
		}
	}
	d := time.Since(start)
	t.Logf("%d acks=all batches (1 KiB) to 3 replicas on broker/log: %v, %.0f/s, %v each", n, d, float64(n)/d.Seconds(), d/time.Duration(n))
	waitUntil(t, "replicas equal", func() bool { return tc.sameLogs("rate", 0, n, 1, 2, 3) })
}

func TestRefusedISRChangeWaitsForNextImage(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2, withBrokerConfig("replica.lag.time.max.ms", "300"), withBrokerConfig("replica.fetch.wait.max.ms", "50"))
	tc.createTopic("ref", 1, 2, nil)
	tc.fc.setRefuse(fmt.Errorf("%w: test", kerr.InvalidUpdateVersion))
	tc.stop(2)
	waitUntil(t, "the leader asks to shrink", func() bool { a, _ := tc.fc.counts(); return a >= 1 })
	// Several ISR rounds (every 100 ms here) pass without a new image: a
	// leader that asked again would show more attempts below.
	time.Sleep(500 * time.Millisecond)
	tc.fc.setRefuse(nil)
	tc.fc.edit(func(*cluster.Image) {}) // a newer image, nothing changed
	waitUntil(t, "ISR shrinks", func() bool { return slices.Equal(tc.fc.partition("ref", 0).ISR, []int32{1}) })
	if a, ok := tc.fc.counts(); a != 2 || ok != 1 {
		t.Fatalf("AlterPartition attempts %d (accepted %d), want 2 (1)", a, ok)
	}
}
