package server

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduceValidation(t *testing.T) {
	t.Parallel()
	twoBatches := append(makeBatch(batchOpts{}), makeBatch(batchOpts{})...)
	big := makeBatch(batchOpts{keys: [][]byte{make([]byte, 2000)}})
	badMagic := makeBatch(batchOpts{})
	badMagic[16] = 1
	tests := []struct {
		name    string
		configs map[string]string
		acks    int16
		records []byte
		txnID   bool
		want    int16
	}{
		{name: "ok", records: makeBatch(batchOpts{})},
		{name: "bad crc", records: makeBatch(batchOpts{badCRC: true}), want: kerr.CorruptMessage.Code},
		{name: "magic 1 in v3+", records: badMagic, want: kerr.InvalidRecord.Code},
		{name: "truncated", records: makeBatch(batchOpts{})[:50], want: kerr.CorruptMessage.Code},
		{name: "two batches", records: twoBatches, want: kerr.InvalidRecord.Code},
		{name: "too large", configs: map[string]string{"max.message.bytes": "1024"}, records: big, want: kerr.MessageTooLarge.Code},
		{name: "keyless on compacted", configs: map[string]string{"cleanup.policy": "compact"}, records: makeBatch(batchOpts{keys: [][]byte{nil}}), want: kerr.InvalidRecord.Code},
		{name: "keyed on compacted", configs: map[string]string{"cleanup.policy": "compact"}, records: makeBatch(batchOpts{})},
		{name: "transactional batch", records: makeBatch(batchOpts{attrs: kafkaproto.AttrTransactional}), want: kerr.InvalidRecord.Code},
		{name: "transactional id", records: makeBatch(batchOpts{}), txnID: true, want: kerr.TransactionalIDAuthorizationFailed.Code},
		{name: "acks 2", acks: 2, records: makeBatch(batchOpts{}), want: kerr.InvalidRequiredAcks.Code},
		{name: "min insync 2 with acks all", configs: map[string]string{"min.insync.replicas": "2"}, records: makeBatch(batchOpts{}), want: kerr.NotEnoughReplicas.Code},
		{name: "min insync 2 with acks 1", configs: map[string]string{"min.insync.replicas": "2"}, acks: 1, records: makeBatch(batchOpts{})},
	}
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	for i, tc := range tests {
		topic := "v" + string(rune('a'+i))
		if code := c.createTopic(topic, 1, tc.configs); code != 0 {
			t.Fatalf("%s: create: %d", tc.name, code)
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.addr)
			acks := tc.acks
			if acks == 0 {
				acks = -1
			}
			req := produceReq(topic, 0, acks, tc.records)
			if tc.txnID {
				req.TransactionID = kmsg.StringPtr("tx")
			}
			resp := c.roundTrip(req, 9).(*kmsg.ProduceResponse)
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != tc.want {
				t.Fatalf("error %d (%v), want %d", p.ErrorCode, p.ErrorMessage, tc.want)
			}
			end := b.store.get(partitionDir(b.dir, topic, 0)).EndOffset()
			if tc.want != 0 && end != 0 {
				t.Fatalf("refused produce wrote %d records", end)
			}
			if tc.want == 0 && (end == 0 || p.BaseOffset != 0) {
				t.Fatalf("end %d base %d", end, p.BaseOffset)
			}
		})
	}
	if code := c.createTopic("vid", 1, nil); code != 0 {
		t.Fatalf("create: %d", code)
	}
	t.Run("v13 by topic id", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, b.addr)
		req := produceReq("", 0, -1, makeBatch(batchOpts{}))
		req.Topics[0].TopicID = b.s.lookup("vid").id
		resp := c.roundTrip(req, 13).(*kmsg.ProduceResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || resp.Topics[0].TopicID != req.Topics[0].TopicID {
			t.Fatalf("error %d", p.ErrorCode)
		}
		req.Topics[0].TopicID = [16]byte{7}
		if p := c.roundTrip(req, 13).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("unknown id: %d", p.ErrorCode)
		}
	})
	t.Run("unknown partition", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, b.addr)
		if code, _ := c.produce("va", 5, makeBatch(batchOpts{})); code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("code %d", code)
		}
		if code, _ := c.produce("nope", 0, makeBatch(batchOpts{})); code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("code %d", code)
		}
	})
}

func TestProduceStampsLeaderEpoch(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("e", 1, nil)
	c.produce("e", 0, makeBatch(batchOpts{}))
	data, _ := b.store.get(partitionDir(b.dir, "e", 0)).Read(0, 1<<20)
	if epoch := int32(binary.BigEndian.Uint32(data[12:])); epoch != 0 {
		t.Fatalf("partition leader epoch %d", epoch)
	}
	if _, err := kafkaproto.ValidateBatch(data); err != nil {
		t.Fatalf("stamping broke the CRC: %v", err)
	}
}

// TestIdempotentSequences drives one producer id through Kafka's sequence
// rules, then restarts the broker and checks the state survived.
func TestIdempotentSequences(t *testing.T) {
	t.Parallel()
	store, dir := newMemStore(), t.TempDir()
	b := startBrokerOn(t, store, dir)
	c := dialRaw(t, b.addr)
	c.createTopic("idem", 1, nil)
	two := [][]byte{[]byte("a"), []byte("b")}
	type step struct {
		name     string
		epoch    int16
		seq      int32
		n        int
		wantCode int16
		wantBase int64
	}
	steps := []step{
		{name: "first batch, any start accepted", epoch: 0, seq: 0, n: 2, wantBase: 0},
		{name: "next", epoch: 0, seq: 2, n: 2, wantBase: 2},
		{name: "duplicate of the last", epoch: 0, seq: 2, n: 2, wantBase: 2},
		{name: "duplicate of the first", epoch: 0, seq: 0, n: 2, wantBase: 0},
		{name: "gap", epoch: 0, seq: 9, n: 2, wantCode: kerr.OutOfOrderSequenceNumber.Code, wantBase: -1},
		{name: "next after refusal", epoch: 0, seq: 4, n: 2, wantBase: 4},
		{name: "new epoch must start at 0", epoch: 1, seq: 6, n: 2, wantCode: kerr.OutOfOrderSequenceNumber.Code, wantBase: -1},
		{name: "new epoch at 0", epoch: 1, seq: 0, n: 2, wantBase: 6},
		{name: "old epoch fenced", epoch: 0, seq: 6, n: 2, wantCode: kerr.InvalidProducerEpoch.Code, wantBase: -1},
	}
	run := func(c *rawConn, st step) {
		t.Helper()
		keys := two[:st.n]
		code, base := c.produce("idem", 0, makeBatch(batchOpts{pid: 42, epoch: st.epoch, seq: st.seq, keys: keys}))
		if code != st.wantCode || base != st.wantBase {
			t.Fatalf("%s: code %d base %d, want %d %d", st.name, code, base, st.wantCode, st.wantBase)
		}
	}
	for _, st := range steps {
		run(c, st)
	}
	if end := store.get(partitionDir(dir, "idem", 0)).EndOffset(); end != 8 {
		t.Fatalf("log end %d, want 8 (duplicates and refusals not written)", end)
	}

	// Restart on the same data: the state is rebuilt from the log.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b2 := startBrokerOn(t, store, dir)
	c2 := dialRaw(t, b2.addr)
	for _, st := range []step{
		{name: "duplicate after restart", epoch: 1, seq: 0, n: 2, wantBase: 6},
		{name: "gap after restart", epoch: 1, seq: 5, n: 2, wantCode: kerr.OutOfOrderSequenceNumber.Code, wantBase: -1},
		{name: "next after restart", epoch: 1, seq: 2, n: 1, wantBase: 8},
	} {
		run(c2, st)
	}

	dp := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = "idem", []int32{0}
	dp.Topics = append(dp.Topics, dt)
	resp := c2.roundTrip(dp, 0).(*kmsg.DescribeProducersResponse)
	ap := resp.Topics[0].Partitions[0].ActiveProducers
	if len(ap) != 1 || ap[0].ProducerID != 42 || ap[0].ProducerEpoch != 1 || ap[0].LastSequence != 2 {
		t.Fatalf("active producers %+v", ap)
	}
}

func TestSequenceWrapsAtMaxInt32(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("wrap", 1, nil)
	if code, _ := c.produce("wrap", 0, makeBatch(batchOpts{pid: 7, seq: 1<<31 - 2, keys: [][]byte{[]byte("a"), []byte("b")}})); code != 0 {
		t.Fatalf("code %d", code)
	}
	if code, base := c.produce("wrap", 0, makeBatch(batchOpts{pid: 7, seq: 0})); code != 0 || base != 2 {
		t.Fatalf("code %d base %d", code, base)
	}
}

func TestInitProducerIDNeverReused(t *testing.T) {
	t.Parallel()
	store, dir := newMemStore(), t.TempDir()
	b := startBrokerOn(t, store, dir)
	c := dialRaw(t, b.addr)
	seen := map[int64]bool{}
	get := func(c *rawConn) int64 {
		resp := c.roundTrip(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("resp %+v (seen %v)", resp, seen[resp.ProducerID])
		}
		seen[resp.ProducerID] = true
		return resp.ProducerID
	}
	get(c)
	get(c)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	c2 := dialRaw(t, startBrokerOn(t, store, dir).addr)
	get(c2)
	txn := kmsg.NewPtrInitProducerIDRequest()
	txn.TransactionalID = kmsg.StringPtr("t")
	if resp := c2.roundTrip(txn, 4).(*kmsg.InitProducerIDResponse); resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional: %d", resp.ErrorCode)
	}
}

// TestProducerSnapshot: a clean close writes the producer state; on open
// it is used, so state survives even when the batches it came from are
// gone from the log. A snapshot that does not fit the log is ignored.
func TestProducerSnapshot(t *testing.T) {
	t.Parallel()
	store, dir := newMemStore(), t.TempDir()
	b := startBrokerOn(t, store, dir)
	c := dialRaw(t, b.addr)
	c.createTopic("snap", 1, nil)
	for seq := int32(0); seq < 3; seq++ {
		c.produce("snap", 0, makeBatch(batchOpts{pid: 5, seq: seq}))
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	// Drop the batches: only the snapshot still knows producer 5.
	if err := store.get(partitionDir(dir, "snap", 0)).DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	b2 := startBrokerOn(t, store, dir)
	c2 := dialRaw(t, b2.addr)
	if code, base := c2.produce("snap", 0, makeBatch(batchOpts{pid: 5, seq: 2})); code != 0 || base != 2 {
		t.Fatalf("duplicate known only to the snapshot: code %d base %d", code, base)
	}
	if err := b2.stop(); err != nil {
		t.Fatal(err)
	}

	// A snapshot claiming more than the log holds (a log cut after the
	// close) is ignored: the state comes from the log alone, now empty.
	path := snapshotPath(dir, "snap", 0)
	var f snapshotFile
	if ok, err := readJSON(path, &f); !ok || err != nil {
		t.Fatalf("snapshot: %v %v", ok, err)
	}
	f.Offset = 99
	if err := writeJSON(path, f); err != nil {
		t.Fatal(err)
	}
	b3 := startBrokerOn(t, store, dir)
	c3 := dialRaw(t, b3.addr)
	if code, base := c3.produce("snap", 0, makeBatch(batchOpts{pid: 5, seq: 2})); code != 0 || base != 3 {
		t.Fatalf("with an ignored snapshot the producer is new: code %d base %d", code, base)
	}
}

func TestProducerExpiry(t *testing.T) {
	t.Parallel()
	p := &partition{producers: map[int64]*producerState{}, expireMS: 1000}
	h := kafkaproto.BatchHeader{ProducerID: 1, BaseSequence: 0}
	p.recordLocked(h, 0, 0, 10_000)
	h.ProducerID = 2
	p.recordLocked(h, 1, 1, 10_500)
	p.expireLocked(11_200) // producer 1 idle 1200 ms, producer 2 700 ms
	if _, ok := p.producers[1]; ok {
		t.Fatal("idle producer kept")
	}
	if _, ok := p.producers[2]; !ok {
		t.Fatal("active producer expired")
	}
	// Sweeps happen on their own every sweepEvery appends.
	p.sinceSweep = 0
	for i := range sweepEvery {
		h.ProducerID = int64(100 + i)
		p.recordLocked(h, 0, 0, 20_000+int64(i))
	}
	if _, ok := p.producers[2]; ok || len(p.producers) != sweepEvery {
		t.Fatalf("no sweep: %d producers", len(p.producers))
	}
}

// TestProduceManyPartitionsOneRequest: partitions of one request append
// concurrently, a partition named twice appends in request order, and the
// response keeps the request's shape.
func TestProduceManyPartitionsOneRequest(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("m1", 3, nil)
	c.createTopic("m2", 1, nil)
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	add := func(topic string, parts ...int32) {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		for _, p := range parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, makeBatch(batchOpts{})
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	add("m1", 0, 1, 2, 1, 9)
	add("nope", 0)
	add("m2", 0)
	resp := c.roundTrip(req, 9).(*kmsg.ProduceResponse)
	var got []string
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			got = append(got, fmt.Sprintf("%s/%d:%d@%d", rt.Topic, p.Partition, p.ErrorCode, p.BaseOffset))
		}
	}
	want := "[m1/0:0@0 m1/1:0@0 m1/2:0@0 m1/1:0@1 m1/9:3@-1 nope/0:3@-1 m2/0:0@0]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got  %v\nwant %s", got, want)
	}
}

// TestConcurrentDuplicatesWrittenOnce: the same idempotent batch sent at
// once on many connections (a producer retrying on new connections) is
// written once; every answer carries its offset.
func TestConcurrentDuplicatesWrittenOnce(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("dup", 1, nil)
	c.produce("dup", 0, makeBatch(batchOpts{})) // offset 0: someone else's record
	const conns = 10
	type result struct {
		code int16
		base int64
	}
	results := make(chan result, conns)
	var wg sync.WaitGroup
	for range conns {
		cc := dialRaw(t, b.addr)
		wg.Go(func() {
			code, base := cc.produce("dup", 0, makeBatch(batchOpts{pid: 77, seq: 0, keys: [][]byte{[]byte("a"), []byte("b")}}))
			results <- result{code, base}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.code != 0 || r.base != 1 {
			t.Fatalf("answer %+v, want offset 1", r)
		}
	}
	if end := b.store.get(partitionDir(b.dir, "dup", 0)).EndOffset(); end != 3 {
		t.Fatalf("log end %d, want 3 (the batch written once)", end)
	}
}
