package server

import (
	"context"
	"encoding/binary"
	"github.com/prometheus/client_golang/prometheus"
	"net"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAPIVersions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	for v := int16(0); v <= 4; v++ {
		resp := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), v).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(kafkaproto.Advertised()) {
			t.Fatalf("v%d: error %d, %d keys", v, resp.ErrorCode, len(resp.ApiKeys))
		}
	}
	// An unknown future version: v0 answer with UNSUPPORTED_VERSION and the
	// table, and the connection stays usable.
	c.send(kmsg.NewPtrApiVersionsRequest(), 77, 5)
	corr, r := c.recv(kmsg.NewPtrApiVersionsResponse(), 0)
	resp := r.(*kmsg.ApiVersionsResponse)
	if corr != 5 || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("corr %d error %d keys %d", corr, resp.ErrorCode, len(resp.ApiKeys))
	}
	if resp := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("after unsupported: %d", resp.ErrorCode)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		autoCreate string
		version    int16
		allow      bool
		wantCode   int16
	}{
		{name: "auto-create default on", autoCreate: "", version: 12, allow: true, wantCode: 0},
		{name: "client forbids", autoCreate: "", version: 12, allow: false, wantCode: kerr.UnknownTopicOrPartition.Code},
		{name: "broker forbids", autoCreate: "false", version: 12, allow: true, wantCode: kerr.UnknownTopicOrPartition.Code},
		{name: "v3 always allows", autoCreate: "", version: 3, wantCode: 0},
		{name: "v0", autoCreate: "", version: 0, wantCode: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []brokerOpt
			if tc.autoCreate != "" {
				opts = append(opts, withBrokerConfig("auto.create.topics.enable", tc.autoCreate))
			}
			b := startBroker(t, append(opts, withBrokerConfig("num.partitions", "3"))...)
			c := dialRaw(t, b.addr)
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("auto")
			req.Topics = append(req.Topics, rt)
			req.AllowAutoTopicCreation = tc.allow
			resp := c.roundTrip(req, tc.version).(*kmsg.MetadataResponse)
			if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 {
				t.Fatalf("brokers %+v", resp.Brokers)
			}
			if host, port, _ := net.SplitHostPort(b.addr); resp.Brokers[0].Host != host || port == "" {
				t.Fatalf("advertised %s:%d, listening %s", resp.Brokers[0].Host, resp.Brokers[0].Port, b.addr)
			}
			if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != tc.wantCode {
				t.Fatalf("topics %+v", resp.Topics)
			}
			if tc.wantCode == 0 && len(resp.Topics[0].Partitions) != 3 {
				t.Fatalf("partitions %d", len(resp.Topics[0].Partitions))
			}
			if tc.version >= 10 && tc.wantCode == 0 && resp.Topics[0].TopicID == [16]byte{} {
				t.Fatal("no topic id")
			}
		})
	}
}

// TestOversizedFrameClosesOnlyItsConnection announces a frame over
// socket.request.max.bytes: that connection is closed without the broker
// reading (or allocating) the body, and another connection keeps working.
func TestOversizedFrameClosesOnlyItsConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withBrokerConfig("socket.request.max.bytes", "4096"))
	good := dialRaw(t, b.addr)
	bad := dialRaw(t, b.addr)
	good.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3)

	bad.writeRaw(binary.BigEndian.AppendUint32(nil, 1<<30)) // 1 GiB announced, nothing sent
	bad.expectClosed()

	if resp := good.roundTrip(kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatal("good connection broken")
	}
	// Just over the cap (a real body) is refused the same way.
	bad2 := dialRaw(t, b.addr)
	bad2.writeRaw(append(binary.BigEndian.AppendUint32(nil, 4097), make([]byte, 4097)...))
	bad2.expectClosed()
	good.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3)
}

func TestMalformedRequestClosesOnlyItsConnection(t *testing.T) {
	t.Parallel()
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	full := kmsg.NewRequestFormatter().AppendRequest(nil, meta, 1)
	truncated := append(binary.BigEndian.AppendUint32(nil, uint32(len(full)-4-2)), full[4:len(full)-2]...)
	unknownKey := []byte{0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	sasl := kmsg.NewPtrEndTxnRequest() // not advertised: transactions
	sasl.SetVersion(1)
	unadvertised := kmsg.NewRequestFormatter().AppendRequest(nil, sasl, 1)
	tests := []struct {
		name  string
		frame []byte
	}{
		{name: "truncated body", frame: truncated},
		{name: "unknown api key", frame: unknownKey},
		{name: "unadvertised api", frame: unadvertised},
		{name: "header too short", frame: []byte{0, 0, 0, 3, 0, 3, 0}},
		{name: "negative size", frame: []byte{0xff, 0xff, 0xff, 0xf0}},
	}
	b := startBroker(t)
	good := dialRaw(t, b.addr)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := dialRaw(t, b.addr)
			bad.writeRaw(tc.frame)
			bad.expectClosed()
		})
	}
	t.Cleanup(func() { good.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3) })
}

// TestPipelinedResponsesInRequestOrder pipelines a long-poll Fetch, then
// ApiVersions and Metadata on one connection. The later requests finish
// first, yet their responses follow the Fetch's, which an append on another
// connection completes.
func TestPipelinedResponsesInRequestOrder(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	admin := dialRaw(t, b.addr)
	if code := admin.createTopic("pipe", 1, nil); code != 0 {
		t.Fatalf("create: %d", code)
	}
	c := dialRaw(t, b.addr)
	c.send(longPollFetch("pipe", 60_000), 11, 1)
	c.send(kmsg.NewPtrApiVersionsRequest(), 3, 2)
	c.send(kmsg.NewPtrMetadataRequest(), 12, 3)
	// Wait until the fetch is parked and the two later requests are read
	// (the writer holds the fetch's slot; two more are queued behind it).
	waitFor(t, func() bool { return b.waiters("pipe", 0) == 1 && b.queued() == 2 })
	if code, _ := admin.produce("pipe", 0, makeBatch(batchOpts{})); code != 0 {
		t.Fatalf("produce: %d", code)
	}
	corr, r := c.recv(kmsg.NewPtrFetchResponse(), 11)
	if corr != 1 {
		t.Fatalf("first response has correlation id %d, want 1 (the fetch)", corr)
	}
	if fr := r.(*kmsg.FetchResponse); len(fr.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatal("fetch woke without the record")
	}
	if got := c.recvCorr(); got != 2 {
		t.Fatalf("second response %d, want 2", got)
	}
	if got := c.recvCorr(); got != 3 {
		t.Fatalf("third response %d, want 3", got)
	}
}

func TestAcksZeroSendsNoResponse(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	if code := c.createTopic("fire", 1, nil); code != 0 {
		t.Fatalf("create: %d", code)
	}
	c.send(produceReq("fire", 0, 0, makeBatch(batchOpts{})), 9, 10)
	c.send(kmsg.NewPtrApiVersionsRequest(), 3, 11)
	if got := c.recvCorr(); got != 11 {
		t.Fatalf("got response %d, want only 11", got)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "fire"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	resp := c.roundTrip(lo, 7).(*kmsg.ListOffsetsResponse)
	if off := resp.Topics[0].Partitions[0].Offset; off != 1 {
		t.Fatalf("end offset %d, want 1", off)
	}
}

// TestGracefulShutdownAnswersInFlight: a long-polling fetch is answered
// when Run's ctx is cancelled, then the connection closes and Run returns nil.
func TestGracefulShutdownAnswersInFlight(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	if code := c.createTopic("bye", 1, nil); code != 0 {
		t.Fatalf("create: %d", code)
	}
	c.send(longPollFetch("bye", 600_000), 11, 7)
	waitFor(t, func() bool { return b.waiters("bye", 0) == 1 })
	if err := b.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	corr, r := c.recv(kmsg.NewPtrFetchResponse(), 11)
	if corr != 7 || r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("corr %d resp %+v", corr, r)
	}
	c.expectClosed()
	if _, err := net.Dial("tcp", b.addr); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func longPollFetch(topic string, waitMS int32) *kmsg.FetchRequest {
	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = waitMS, 1, 1<<20
	fetch.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	return fetch
}

// waiters returns how many fetches wait on a partition.
func (b *testBroker) waiters(topic string, partition int32) int {
	t := b.s.lookup(topic)
	if t == nil {
		return 0
	}
	p := b.s.partitionOf(t, partition)
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

// queued returns the largest number of responses queued on one connection.
func (b *testBroker) queued() int {
	b.s.mu.RLock()
	defer b.s.mu.RUnlock()
	n := 0
	for c := range b.s.conns {
		n = max(n, len(c.slots))
	}
	return n
}

// waitFor polls cond until it holds. It decides nothing by timing: it only
// waits for a state the test needs before acting; the test's overall
// deadline catches a state that never comes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// TestMetrics checks the server's metrics move with traffic.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s, err := New(Config{DataDir: t.TempDir()}, withLogOpener(newMemStore().open), WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	c := dialRaw(t, ln.Addr().String())
	c.createTopic("m", 1, nil)
	c.produce("m", 0, makeBatch(batchOpts{}))
	c.produce("m", 0, makeBatch(batchOpts{badCRC: true}))
	bad := dialRaw(t, ln.Addr().String())
	bad.writeRaw([]byte{0, 0, 0, 2, 0, 0})
	bad.expectClosed()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	value := func(name, label, lv string) float64 {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := label == ""
				for _, l := range m.GetLabel() {
					match = match || (l.GetName() == label && l.GetValue() == lv)
				}
				if match {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	tests := []struct {
		name, label, lv string
		want            float64
	}{
		{"sluice_server_produced_records_total", "", "", 1},
		{"sluice_server_produce_refused_total", "code", "CORRUPT_MESSAGE", 1},
		{"sluice_server_requests_total", "api", "Produce", 2},
		{"sluice_server_connections_closed_total", "reason", closeMalformed, 1},
		{"sluice_server_connections", "", "", 0},
	}
	for _, tc := range tests {
		if got := value(tc.name, tc.label, tc.lv); got != tc.want {
			t.Errorf("%s{%s=%q} = %v, want %v", tc.name, tc.label, tc.lv, got, tc.want)
		}
	}
}

// TestAcksZeroFailureClosesConnection: an acks=0 produce that fails has no
// response to carry the error, so the connection closes (as in Kafka) and
// the client refreshes its metadata.
func TestAcksZeroFailureClosesConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.send(produceReq("missing", 0, 0, makeBatch(batchOpts{})), 9, 1)
	c.expectClosed()
	good := dialRaw(t, b.addr)
	good.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3)
}
