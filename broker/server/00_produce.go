// Produce (key 0), versions 0-13.
//
// v0-v2 carry legacy message sets (magic 0/1, possibly compressed
// wrappers): they are up-converted to one uncompressed v2 batch (magic 0
// messages, which have no timestamp, get the broker's time). From v3 each
// partition's records must be exactly one v2 record batch (Kafka's rule): more than one is INVALID_RECORD; a bad length, magic or CRC is
// CORRUPT_MESSAGE; larger than max.message.bytes is MESSAGE_TOO_LARGE; a
// keyless record on a compacted topic is INVALID_RECORD (the log checks, as
// it must decompress); transactional and control batches are
// INVALID_RECORD, a produce to an internal topic (__consumer_offsets) is
// INVALID_TOPIC_EXCEPTION, and a request with a transactional id is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (non-retriable: transactions are
// not supported yet). In every error case
// nothing is written. acks must be -1, 0 or 1 (else INVALID_REQUIRED_ACKS);
// with acks=0 a failure closes the connection (Kafka's only signal then);
// acks=-1 with min.insync.replicas above 1 is NOT_ENOUGH_REPLICAS on a
// single node. acks=0 gets no response at all (the connection drops it).
//
// Idempotence: a batch with a producer id is checked against the
// partition's producer state under the append lock (producers.go):
// duplicates of one of the last five batches are answered with their
// original offsets without writing; gaps are OUT_OF_ORDER_SEQUENCE_NUMBER;
// an old epoch is INVALID_PRODUCER_EPOCH.
//
// The broker stamps partition_leader_epoch (0) into the batch; it lies
// outside the CRC. The base offset is assigned by the log. The response is
// built only after Append returned, i.e. after the batch is durable.
// LogAppendTime is the broker's stamp on message.timestamp.type=
// LogAppendTime topics, else -1. v13+ names topics by id
// (UNKNOWN_TOPIC_ID when unknown).

package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceItem is one partition's part of a produce request.
type produceItem struct {
	pr      *kmsg.ProduceResponseTopicPartition
	p       *partition
	cfg     TopicConfig
	records []byte
	topic   string
	err     error
}

// handleProduce returns nil for acks=0 (and then closes the connection
// through rc.closeAfter if a partition failed). The partitions of one request are
// appended concurrently (their fsyncs overlap); two entries for the same
// partition are appended one after the other, in request order.
func (s *Server) handleProduce(ctx context.Context, rc *reqContext, req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var reqErr error
	switch {
	case req.TransactionID != nil:
		reqErr = fmt.Errorf("%w: transactions are not supported", kerr.TransactionalIDAuthorizationFailed)
	case req.Acks != -1 && req.Acks != 0 && req.Acks != 1:
		reqErr = fmt.Errorf("%w: acks %d", kerr.InvalidRequiredAcks, req.Acks)
	}
	var items []*produceItem
	byPartition := map[*partition][]*produceItem{}
	for _, rt := range req.Topics {
		var t *topic
		var unknown error = kerr.UnknownTopicOrPartition
		if req.Version >= 13 {
			t, unknown = s.lookupID(rt.TopicID), kerr.UnknownTopicID
		} else {
			t = s.lookup(rt.Topic)
		}
		respTopic := kmsg.NewProduceResponseTopic()
		respTopic.Topic, respTopic.TopicID = rt.Topic, rt.TopicID
		respTopic.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		resp.Topics = append(resp.Topics, respTopic)
		for i, rp := range rt.Partitions {
			pr := &resp.Topics[len(resp.Topics)-1].Partitions[i]
			*pr = kmsg.NewProduceResponseTopicPartition()
			pr.Partition = rp.Partition
			pr.BaseOffset, pr.LogAppendTime, pr.LogStartOffset = -1, -1, -1
			it := &produceItem{pr: pr, records: rp.Records, topic: rt.Topic, err: reqErr}
			items = append(items, it)
			if it.err == nil && t != nil {
				it.p = s.partitionOf(t, rp.Partition)
			}
			switch {
			case it.err != nil:
			case t == nil:
				it.err = unknown
			case s.isInternal(t.name):
				it.err = fmt.Errorf("%w: %s is an internal topic", kerr.InvalidTopicException, t.name)
			case it.p == nil && s.clustered() && s.hasPartition(t, rp.Partition):
				it.err = fmt.Errorf("%w: no replica of %s-%d here", kerr.NotLeaderForPartition, t.name, rp.Partition)
			case it.p == nil:
				it.err = fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, t.name, rp.Partition)
			default:
				it.cfg, _ = s.configOf(t)
				byPartition[it.p] = append(byPartition[it.p], it)
			}
		}
	}
	if s.clustered() && req.Acks == -1 {
		// acks=all waits for the in-sync replicas up to the request's timeout.
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	appendAll := func(its []*produceItem) {
		for _, it := range its {
			res, err := s.produceTo(ctx, it.p, it.cfg, req.Acks, it.records, req.Version < 3)
			if err == nil {
				it.pr.BaseOffset, it.pr.LogAppendTime = res.BaseOffset, res.LogAppendTime
			}
			it.pr.LogStartOffset = it.p.log.StartOffset()
			it.err = err
		}
	}
	if len(byPartition) == 1 {
		for _, its := range byPartition {
			appendAll(its)
		}
	} else {
		var wg sync.WaitGroup // owns one goroutine per partition; all end before the response
		for _, its := range byPartition {
			wg.Go(func() { appendAll(its) })
		}
		wg.Wait()
	}
	if req.Acks == 0 && produceFailed(items) && rc.closeAfter != nil {
		rc.closeAfter()
	}
	for _, it := range items {
		if it.err != nil {
			it.pr.ErrorCode = kafkaproto.ErrorCode(it.err)
			it.pr.ErrorMessage = kafkaproto.ErrorMessage(it.err)
			s.metrics.produceRefused.WithLabelValues(codeName(it.pr.ErrorCode)).Inc()
			rc.log.Debug("produce refused", "topic", it.topic, "partition", it.pr.Partition, "err", it.err)
		}
	}
	if req.Acks == 0 {
		return nil
	}
	return resp
}

// produceFailed reports whether any partition of a produce failed; with
// acks=0 the connection is then closed, as Kafka does, since the client
// gets no response that would tell it to refresh its metadata.
func produceFailed(items []*produceItem) bool {
	for _, it := range items {
		if it.err != nil {
			return true
		}
	}
	return false
}

// produceTo validates one partition's records and appends them; in a
// cluster, acks=all then waits until the in-sync replicas have them (the
// high watermark covers the batch), with no lock held.
func (s *Server) produceTo(ctx context.Context, p *partition, cfg TopicConfig, acks int16, records []byte, legacy bool) (appendResult, error) {
	res, epoch, err := s.appendLocal(ctx, p, cfg, acks, records, legacy)
	if err != nil || !s.clustered() || acks != -1 {
		return res, err
	}
	if err := s.waitReplicated(ctx, p, epoch, res.LastOffset+1); err != nil {
		return appendResult{}, err
	}
	// The ISR may have shrunk while we waited: the batch is committed but
	// on fewer replicas than asked (Kafka's answer; the producer retries).
	if r := p.role.Load(); r != nil && int32(len(r.isr)) < cfg.MinInsyncReplicas {
		return appendResult{}, fmt.Errorf("%w: in-sync replicas %v, min.insync.replicas %d", kerr.NotEnoughReplicasAfterAppend, r.isr, cfg.MinInsyncReplicas)
	}
	return res, nil
}

// appendLocal validates one partition's records and appends them to the
// local log. With legacy (Produce v0-v2) a message set of magic 0/1 is
// up-converted to one v2 batch first. It returns the leader epoch the
// batch was stamped with.
func (s *Server) appendLocal(ctx context.Context, p *partition, cfg TopicConfig, acks int16, records []byte, legacy bool) (appendResult, int32, error) {
	var epoch int32
	if s.clustered() {
		r, err := s.leaderRole(p)
		if err != nil {
			return appendResult{}, 0, err
		}
		if acks == -1 && int32(len(r.isr)) < cfg.MinInsyncReplicas {
			return appendResult{}, 0, fmt.Errorf("%w: min.insync.replicas %d, in-sync replicas %v", kerr.NotEnoughReplicas, cfg.MinInsyncReplicas, r.isr)
		}
		epoch = r.leaderEpoch
	} else if acks == -1 && cfg.MinInsyncReplicas > 1 {
		return appendResult{}, 0, fmt.Errorf("%w: min.insync.replicas %d, in-sync replicas 1", kerr.NotEnoughReplicas, cfg.MinInsyncReplicas)
	}
	res, err := s.appendValidated(ctx, p, cfg, epoch, records, legacy)
	return res, epoch, err
}

func (s *Server) appendValidated(ctx context.Context, p *partition, cfg TopicConfig, epoch int32, records []byte, legacy bool) (appendResult, error) {
	if len(records) > kafkaproto.BatchPartitionLeaderEpochAt+4 && records[16] < 2 {
		if !legacy {
			return appendResult{}, fmt.Errorf("%w: Produce v3+ carries only v2 record batches", kerr.InvalidRecord)
		}
		now := time.Now().UnixMilli()
		recs, err := kafkaproto.ConvertMessageSet(records, now, legacyDecompress)
		if err != nil {
			return appendResult{}, err
		}
		records = kafkaproto.AppendBatch(nil, now, recs)
	}
	if len(records) > int(cfg.MaxMessageBytes) {
		return appendResult{}, fmt.Errorf("%w: batch of %d bytes, max.message.bytes %d", kerr.MessageTooLarge, len(records), cfg.MaxMessageBytes)
	}
	h, err := kafkaproto.ParseBatchHeader(records)
	if err == nil && h.Size() < len(records) {
		return appendResult{}, fmt.Errorf("%w: more than one record batch", kerr.InvalidRecord)
	}
	if h, err = kafkaproto.ValidateBatch(records); err != nil {
		return appendResult{}, err
	}
	if h.Attributes&(kafkaproto.AttrTransactional|kafkaproto.AttrControl) != 0 {
		return appendResult{}, fmt.Errorf("%w: transactional batches are not supported", kerr.InvalidRecord)
	}
	// Stamp the leader epoch; it lies outside the CRC.
	binary.BigEndian.PutUint32(records[kafkaproto.BatchPartitionLeaderEpochAt:], uint32(epoch))

	// life (shared) keeps the log open for the append; only an idempotent
	// batch takes its producer's lock, which orders its sequence check with
	// its Append. Everything else appends concurrently, so fsyncs are
	// shared (the log's group commit).
	p.life.RLock()
	defer p.life.RUnlock()
	if p.deleted {
		return appendResult{}, fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, p.topic, p.index)
	}
	if s.clustered() {
		// Checked again under life: a follower truncates with life held
		// exclusively, so no append of a deposed leader lands after it.
		if r := p.role.Load(); r == nil || r.leader != s.cfg.NodeID || r.leaderEpoch != epoch {
			return appendResult{}, fmt.Errorf("%w: leadership of %s-%d moved", kerr.NotLeaderForPartition, p.topic, p.index)
		}
	}
	if h.Idempotent() {
		// One producer's batches check, append and record one at a time;
		// different producers proceed concurrently.
		unlock := p.lockProducer(h.ProducerID)
		defer unlock()
		p.appendMu.Lock()
		dup, err := p.checkSequenceLocked(h)
		p.appendMu.Unlock()
		if err != nil {
			return appendResult{}, err
		}
		if dup != nil {
			return appendResult{BaseOffset: dup.baseOffset, LastOffset: dup.lastOffset, LogAppendTime: -1}, nil
		}
	}
	// Invariant: ack after durable write. Append returns once the batch is
	// on disk; only then do the high watermark and the response move.
	res, err := p.log.Append(ctx, records)
	if err != nil {
		return appendResult{}, fmt.Errorf("appending to %s-%d: %w", p.topic, p.index, err)
	}
	if h.Idempotent() {
		p.appendMu.Lock()
		p.recordLocked(h, res.BaseOffset, res.LastOffset, time.Now().UnixMilli())
		p.appendMu.Unlock()
	}
	s.metrics.producedBytes.Add(float64(len(records)))
	s.metrics.producedRecords.Add(float64(h.NumRecords))
	if s.clustered() {
		p.advanceLEO(res.LastOffset + 1)
		s.updateHW(p)
		p.wake() // followers long-polling for the new batch
		return res, nil
	}
	p.advanceHW(res.LastOffset + 1)
	p.wake()
	return res, nil
}

// legacyDecompress decompresses a legacy compressed message's value.
func legacyDecompress(codec int8, b []byte) ([]byte, error) {
	return kgo.DefaultDecompressor().Decompress(b, kgo.CompressionCodecType(codec))
}
