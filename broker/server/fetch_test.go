package server

import (
	"testing"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fetchPart struct {
	partition int32
	offset    int64
	maxBytes  int32
}

func fetchReq(topic string, id [16]byte, maxBytes, minBytes, waitMS int32, parts ...fetchPart) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.MinBytes, req.MaxWaitMillis, req.SessionEpoch = maxBytes, minBytes, waitMS, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id
	for _, p := range parts {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p.partition, p.offset, p.maxBytes
		fp.CurrentLeaderEpoch = -1
		ft.Partitions = append(ft.Partitions, fp)
	}
	req.Topics = append(req.Topics, ft)
	return req
}

func countBatches(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	if err := kafkaproto.SplitBatches(b, func(kafkaproto.BatchHeader, []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFetch(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("f", 2, nil)
	for range 3 {
		c.produce("f", 0, makeBatch(batchOpts{}))
	}
	c.produce("f", 1, makeBatch(batchOpts{}))
	id := b.s.lookup("f").id
	tests := []struct {
		name        string
		version     int16
		req         *kmsg.FetchRequest
		wantErr     int16   // top-level
		wantCodes   []int16 // per partition
		wantBatches []int
	}{
		{name: "everything", version: 11, req: fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20}, fetchPart{1, 0, 1 << 20}),
			wantCodes: []int16{0, 0}, wantBatches: []int{3, 1}},
		{name: "from the middle", version: 11, req: fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 1, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{2}},
		{name: "max bytes 1: first partition still gets one batch", version: 11, req: fetchReq("f", id, 1, 1, 0, fetchPart{0, 0, 1 << 20}, fetchPart{1, 0, 1 << 20}),
			wantCodes: []int16{0, 0}, wantBatches: []int{1, 0}},
		{name: "partition max bytes 1", version: 11, req: fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 0, 1}, fetchPart{1, 0, 1}),
			wantCodes: []int16{0, 0}, wantBatches: []int{1, 0}},
		{name: "at the high watermark", version: 11, req: fetchReq("f", id, 1<<20, 0, 0, fetchPart{0, 3, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{0}},
		{name: "out of range answers at once", version: 11, req: fetchReq("f", id, 1<<20, 1, 600_000, fetchPart{0, 4, 1 << 20}),
			wantCodes: []int16{kerr.OffsetOutOfRange.Code}, wantBatches: []int{0}},
		{name: "unknown partition", version: 11, req: fetchReq("f", id, 1<<20, 1, 600_000, fetchPart{9, 0, 1 << 20}),
			wantCodes: []int16{kerr.UnknownTopicOrPartition.Code}, wantBatches: []int{0}},
		{name: "unknown topic", version: 11, req: fetchReq("nope", id, 1<<20, 1, 600_000, fetchPart{0, 0, 1 << 20}),
			wantCodes: []int16{kerr.UnknownTopicOrPartition.Code}, wantBatches: []int{0}},
		{name: "v13 by topic id", version: 13, req: fetchReq("", id, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{3}},
		{name: "v17 by topic id", version: 17, req: fetchReq("", id, 1<<20, 1, 0, fetchPart{1, 0, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{1}},
		{name: "v13 unknown topic id", version: 13, req: fetchReq("", [16]byte{1}, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20}),
			wantCodes: []int16{kerr.UnknownTopicID.Code}, wantBatches: []int{0}},
		{name: "v0", version: 0, req: fetchReq("f", id, 0, 1, 0, fetchPart{0, 0, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{3}},
		{name: "v3 max bytes", version: 3, req: fetchReq("f", id, 1, 1, 0, fetchPart{0, 0, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{1}},
		{name: "v4 read committed", version: 4, req: func() *kmsg.FetchRequest {
			r := fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20})
			r.IsolationLevel = 1
			return r
		}(), wantCodes: []int16{0}, wantBatches: []int{3}},
		{name: "min bytes not reached: answered at max wait", version: 11, req: fetchReq("f", id, 1<<20, 1<<20, 20, fetchPart{0, 0, 1 << 20}),
			wantCodes: []int16{0}, wantBatches: []int{3}},
		{name: "session id declined", version: 11, req: func() *kmsg.FetchRequest {
			r := fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20})
			r.SessionID, r.SessionEpoch = 5, 1
			return r
		}(), wantErr: kerr.FetchSessionIDNotFound.Code},
		{name: "new session request gets none", version: 11, req: func() *kmsg.FetchRequest {
			r := fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20})
			r.SessionEpoch = 0
			return r
		}(), wantCodes: []int16{0}, wantBatches: []int{3}},
		{name: "future leader epoch", version: 11, req: func() *kmsg.FetchRequest {
			r := fetchReq("f", id, 1<<20, 1, 0, fetchPart{0, 0, 1 << 20})
			r.Topics[0].Partitions[0].CurrentLeaderEpoch = 3
			return r
		}(), wantCodes: []int16{kerr.UnknownLeaderEpoch.Code}, wantBatches: []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.addr)
			resp := c.roundTrip(tc.req, tc.version).(*kmsg.FetchResponse)
			if resp.ErrorCode != tc.wantErr || resp.SessionID != 0 {
				t.Fatalf("error %d session %d", resp.ErrorCode, resp.SessionID)
			}
			if tc.wantErr != 0 {
				return
			}
			ps := resp.Topics[0].Partitions
			if len(ps) != len(tc.wantCodes) {
				t.Fatalf("%d partitions", len(ps))
			}
			for i, p := range ps {
				if p.ErrorCode != tc.wantCodes[i] {
					t.Fatalf("partition %d: error %d, want %d", p.Partition, p.ErrorCode, tc.wantCodes[i])
				}
				if p.RecordBatches == nil {
					t.Fatalf("partition %d: null record set (librdkafka refuses it)", p.Partition)
				}
				if n := countBatches(t, p.RecordBatches); n != tc.wantBatches[i] {
					t.Fatalf("partition %d: %d batches, want %d", p.Partition, n, tc.wantBatches[i])
				}
				if p.ErrorCode == 0 && (p.HighWatermark < 1 || (tc.version >= 4 && p.LastStableOffset != p.HighWatermark)) {
					t.Fatalf("partition %d: hw %d lso %d", p.Partition, p.HighWatermark, p.LastStableOffset)
				}
			}
		})
	}
}

// TestFetchMaxBytesCapsTheClient: the broker's fetch.max.bytes bounds a
// response whatever max_bytes the client asks for.
func TestFetchMaxBytesCapsTheClient(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withBrokerConfig("fetch.max.bytes", "1024"))
	c := dialRaw(t, b.addr)
	c.createTopic("cap", 2, nil)
	big := [][]byte{make([]byte, 600)}
	for range 3 {
		c.produce("cap", 0, makeBatch(batchOpts{keys: big}))
	}
	c.produce("cap", 1, makeBatch(batchOpts{keys: big}))
	req := fetchReq("cap", [16]byte{}, 1<<30, 1, 0, fetchPart{0, 0, 1 << 30}, fetchPart{1, 0, 1 << 30})
	ps := c.roundTrip(req, 11).(*kmsg.FetchResponse).Topics[0].Partitions
	if n0, n1 := countBatches(t, ps[0].RecordBatches), countBatches(t, ps[1].RecordBatches); n0 != 1 || n1 != 0 {
		t.Fatalf("batches %d, %d; want 1, 0", n0, n1)
	}
}

func TestTrimToHW(t *testing.T) {
	t.Parallel()
	one := makeBatch(batchOpts{})
	two := makeBatch(batchOpts{})
	two[7] = 1 // base offset 1
	both := append(append([]byte(nil), one...), two...)
	tests := []struct {
		name string
		in   []byte
		hw   int64
		want int
	}{
		{"all below", both, 2, len(both)},
		{"second at hw", both, 1, len(one)},
		{"none", both, 0, 0},
		{"partial tail kept", both[:len(both)-3], 2, len(both) - 3},
		{"garbage tail dropped", append(append([]byte(nil), one...), 1, 2, 3), 5, len(one)},
	}
	for _, tc := range tests {
		if got := len(trimToHW(tc.in, tc.hw)); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
}

func TestListOffsets(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("lo", 1, nil)
	for _, ts := range []int64{1000, 5000, 3000} {
		c.produce("lo", 0, makeBatch(batchOpts{ts: ts}))
	}
	tests := []struct {
		name       string
		version    int16
		ts         int64
		wantOffset int64
		wantTS     int64
		wantOld    []int64
		wantCode   int16
	}{
		{name: "latest", version: 7, ts: -1, wantOffset: 3, wantTS: -1},
		{name: "earliest", version: 7, ts: -2, wantOffset: 0, wantTS: -1},
		{name: "max timestamp", version: 7, ts: -3, wantOffset: 1, wantTS: 5000},
		{name: "earliest local", version: 9, ts: -4, wantOffset: 0, wantTS: -1},
		{name: "latest tiered: none", version: 9, ts: -5, wantOffset: -1, wantTS: -1},
		{name: "earliest pending upload: none", version: 11, ts: -6, wantOffset: -1, wantTS: -1},
		{name: "by time", version: 7, ts: 2000, wantOffset: 1, wantTS: 5000},
		{name: "by time exact", version: 1, ts: 1000, wantOffset: 0, wantTS: 1000},
		{name: "after the last", version: 7, ts: 9000, wantOffset: -1, wantTS: -1},
		{name: "v0 latest", version: 0, ts: -1, wantOld: []int64{3, 0}},
		{name: "v0 earliest", version: 0, ts: -2, wantOld: []int64{0}},
		{name: "bad negative", version: 7, ts: -9, wantCode: kerr.InvalidRequest.Code, wantOffset: -1, wantTS: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.addr)
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "lo"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp, rp.MaxNumOffsets = tc.ts, 5
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			p := c.roundTrip(req, tc.version).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			if p.ErrorCode != tc.wantCode {
				t.Fatalf("error %d", p.ErrorCode)
			}
			if tc.version == 0 {
				if len(p.OldStyleOffsets) != len(tc.wantOld) || (len(tc.wantOld) > 0 && p.OldStyleOffsets[0] != tc.wantOld[0]) {
					t.Fatalf("old style %v, want %v", p.OldStyleOffsets, tc.wantOld)
				}
				return
			}
			if p.Offset != tc.wantOffset || p.Timestamp != tc.wantTS {
				t.Fatalf("offset %d ts %d, want %d %d", p.Offset, p.Timestamp, tc.wantOffset, tc.wantTS)
			}
		})
	}
}

func TestMetadataByTopicID(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("byid", 2, nil)
	req := kmsg.NewPtrMetadataRequest()
	for _, id := range [][16]byte{b.s.lookup("byid").id, {9}} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	resp := c.roundTrip(req, 12).(*kmsg.MetadataResponse)
	if *resp.Topics[0].Topic != "byid" || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("by id: %+v", resp.Topics[0])
	}
	if resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown id: %d", resp.Topics[1].ErrorCode)
	}
	all := c.roundTrip(kmsg.NewPtrMetadataRequest(), 1).(*kmsg.MetadataResponse)
	if len(all.Topics) != 1 {
		t.Fatalf("all topics: %d", len(all.Topics))
	}
	bad := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("bad name!")
	bad.Topics = append(bad.Topics, rt)
	bad.AllowAutoTopicCreation = true
	if r := c.roundTrip(bad, 12).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("bad name: %d", r.Topics[0].ErrorCode)
	}
}

// TestEveryAdvertisedVersionAnswers sends a default request of every
// advertised key and version and checks the response decodes at that
// version: the handlers and the header rules agree with kmsg everywhere.
func TestEveryAdvertisedVersionAnswers(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	for _, r := range kafkaproto.Advertised() {
		for v := r.Min; v <= r.Max; v++ {
			req := kmsg.RequestForKey(int16(r.Key))
			if p, ok := req.(*kmsg.ProduceRequest); ok {
				p.Acks = -1
			}
			if j, ok := req.(*kmsg.JoinGroupRequest); ok {
				j.Group = "g" // answered without waiting: no coordinator
			}
			c.send(req, v, int32(v))
			corr, _ := c.recv(req.ResponseKind(), v)
			if corr != int32(v) {
				t.Fatalf("%s v%d: correlation %d", kmsg.NameForKey(int16(r.Key)), v, corr)
			}
		}
	}
}
