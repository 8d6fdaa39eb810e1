package group_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wireBroker is a minimal Kafka-protocol front end for testing the
// coordinator with real clients before broker/server wires it: ApiVersions,
// Metadata (topic "t", empty partitions led by this node), ListOffsets
// (always 0), Fetch (empty after a short wait), and the group APIs through
// the Coordinator. Requests run concurrently; responses keep connection order.
type wireBroker struct {
	t          *testing.T
	c          *group.Coordinator
	ln         net.Listener
	host       string
	port       int32
	partitions int32
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
}

func startWire(t *testing.T, c *group.Coordinator, ln net.Listener, partitions int32) *wireBroker {
	t.Helper()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	b := &wireBroker{t: t, c: c, ln: ln, host: host, port: int32(p), partitions: partitions, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	return b
}

// close stops accepting, closes every connection and waits for all goroutines.
func (b *wireBroker) close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *wireBroker) accept() {
	defer b.wg.Done()
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[conn] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(conn)
	}
}

func (b *wireBroker) serve(conn net.Conn) {
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	// Each request gets a slot; the writer drains slots in arrival order.
	slots := make(chan chan []byte, 64)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		w := bufio.NewWriter(conn)
		for slot := range slots {
			out, ok := <-slot
			if !ok {
				_ = conn.Close()
				continue
			}
			if _, err := w.Write(out); err != nil || w.Flush() != nil {
				_ = conn.Close()
			}
		}
	}()
	fr := kafkaproto.NewFrameReader(conn, 64<<20)
	var reqs sync.WaitGroup
	defer func() { // stop handlers, then the writer, then the socket
		cancel()
		reqs.Wait()
		close(slots)
		_ = conn.Close()
	}()
	for {
		frame, err := fr.Next()
		if err != nil {
			return
		}
		req, err := kafkaproto.DecodeRequest(frame)
		var unsupported *kafkaproto.UnsupportedError
		if errors.As(err, &unsupported) && unsupported.Header.APIKey == int16(kmsg.ApiVersions) {
			// Too new an ApiVersions: answer v0 with UNSUPPORTED_VERSION and the table.
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			resp.ApiKeys = kafkaproto.APIVersionsKeys()
			slot := make(chan []byte, 1)
			slot <- kafkaproto.AppendResponse(nil, unsupported.Header.CorrelationID, resp)
			slots <- slot
			continue
		}
		if err != nil {
			return
		}
		slot := make(chan []byte, 1)
		slots <- slot
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			clientID := ""
			if req.Header.ClientID != nil {
				clientID = *req.Header.ClientID
			}
			rctx := group.WithClient(ctx, clientID, "/"+conn.RemoteAddr().String())
			resp, err := b.handle(rctx, req.Body)
			if err != nil {
				close(slot)
				return
			}
			resp.SetVersion(req.Body.GetVersion())
			slot <- kafkaproto.AppendResponse(nil, req.Header.CorrelationID, resp)
		}()
	}
}

func (b *wireBroker) handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = kafkaproto.APIVersionsKeys()
		return resp, nil
	case *kmsg.MetadataRequest:
		resp := r.ResponseKind().(*kmsg.MetadataResponse)
		resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 1, Host: b.host, Port: b.port}}
		resp.ControllerID = 1
		cluster := "wire"
		resp.ClusterID = &cluster
		t := kmsg.NewMetadataResponseTopic()
		name := "t"
		t.Topic, t.TopicID = &name, wireTopicID
		for p := range b.partitions {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition, mp.Leader, mp.LeaderEpoch = p, 1, 0
			mp.Replicas, mp.ISR = []int32{1}, []int32{1}
			t.Partitions = append(t.Partitions, mp)
		}
		resp.Topics = []kmsg.MetadataResponseTopic{t}
		return resp, nil
	case *kmsg.ListOffsetsRequest:
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch = p.Partition, 0, -1
				rp.OldStyleOffsets = []int64{0}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	case *kmsg.FetchRequest:
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(r.MaxWaitMillis)*time.Millisecond, 100*time.Millisecond)):
		}
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 0, 0, 0
				rp.RecordBatches = []byte{} // null confuses librdkafka
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	default:
		resp, err := b.c.Handle(ctx, req)
		if err != nil && !errors.Is(err, context.Canceled) {
			b.t.Logf("Handle(%s): %v", kmsg.NameForKey(req.Key()), err)
		}
		return resp, err
	}
}

// wireTopics is the wire broker's topic table for the coordinator: topic
// "t" (id 1) with wirePartitions partitions.
type wireTopics struct{}

const wirePartitions = 4

var wireTopicID = [16]byte{1}

func (wireTopics) PartitionExists(topic string, p int32) bool {
	return topic == "t" && p >= 0 && p < wirePartitions
}

func (wireTopics) TopicName(id [16]byte) (string, bool) { return "t", id == wireTopicID }

func (wireTopics) TopicID(name string) ([16]byte, bool) { return wireTopicID, name == "t" }
