// Fetch (key 1), versions 0-18.
//
// Serves the log's batches untouched, up to the high watermark (every
// served offset is durable). Limits: partition_max_bytes per partition and
// max_bytes (v3+) for the response, capped by the broker's fetch.max.bytes
// (55 MiB, Kafka's default), except that the first partition with
// data always gets at least one whole batch (KIP-74), so a batch larger
// than the limits cannot stall a consumer. The response waits until
// min_bytes have accumulated or max_wait_ms passed: appends to any
// requested partition wake the wait (long poll); shutdown ends it early.
// A partition error (unknown topic or partition, offset out of range)
// answers at once.
//
// Isolation level: transactions are not supported, so read_committed and
// read_uncommitted see the same data and last_stable_offset = high
// watermark, with no aborted transactions.
// Fetch sessions (v7+, KIP-227) are declined: the response's session id is
// always 0 (every fetch is a full fetch); a request naming a session id is
// FETCH_SESSION_ID_NOT_FOUND so the client starts over without one.
// v13+ names topics by id (UNKNOWN_TOPIC_ID when unknown). current leader
// epoch (v9+) above 0 is UNKNOWN_LEADER_EPOCH (single node, epoch 0).
// Fetch v0-v3 clients get v2 batches too: librdkafka, sarama and kafka-go
// read batches by their magic byte.

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleFetch(ctx context.Context, req *kmsg.FetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 {
		switch {
		case req.SessionID != 0:
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp
		case req.SessionEpoch > 0:
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp
		}
	}
	replica := fetchReplicaID(req)
	if replica >= 0 && s.clustered() {
		s.recordFollowerFetches(req, replica)
	}
	maxWait := time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond
	deadline := time.Now().Add(maxWait)

	// Register for wake-ups before the first read so that an append
	// between the read and the wait is seen.
	wake := make(chan struct{}, 1)
	var watched []*partition
	defer func() {
		for _, p := range watched {
			p.unwatch(wake)
		}
	}()
	for _, rt := range req.Topics {
		t := s.fetchTopic(req.Version, rt)
		for _, rp := range rt.Partitions {
			if t == nil {
				continue
			}
			if p := s.partitionOf(t, rp.Partition); p != nil {
				p.watch(wake)
				watched = append(watched, p)
			}
		}
	}

	var timer *time.Timer
	for {
		resp.Topics = resp.Topics[:0]
		total, failed := s.fillFetch(req, resp)
		if total >= int(req.MinBytes) || failed || maxWait <= 0 {
			s.metrics.fetchedBytes.Add(float64(total))
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		select {
		case <-wake:
		case <-timer.C:
			resp.Topics = resp.Topics[:0]
			total, _ := s.fillFetch(req, resp)
			s.metrics.fetchedBytes.Add(float64(total))
			return resp
		case <-s.stopping:
			return resp
		case <-ctx.Done():
			return resp
		}
	}
}

// fetchReplicaID is the broker id of a follower's fetch, -1 for consumers.
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// recordFollowerFetches notes, once per request, each partition's fetch
// offset as that follower's log end (replica.go).
func (s *Server) recordFollowerFetches(req *kmsg.FetchRequest, replica int32) {
	for _, rt := range req.Topics {
		t := s.fetchTopic(req.Version, rt)
		if t == nil {
			continue
		}
		for _, rp := range rt.Partitions {
			p := s.partitionOf(t, rp.Partition)
			if p == nil {
				continue
			}
			r, err := s.leaderRole(p)
			if err != nil || checkLeaderEpoch(r, rp.CurrentLeaderEpoch) != nil {
				continue
			}
			s.followerFetched(p, r, replica, rp.FetchOffset)
		}
	}
}

// fetchTopic resolves a fetch topic by id (v13+) or name.
func (s *Server) fetchTopic(version int16, rt kmsg.FetchRequestTopic) *topic {
	if version >= 13 {
		return s.lookupID(rt.TopicID)
	}
	return s.lookup(rt.Topic)
}

// fillFetch reads every requested partition into resp and returns the bytes
// read and whether any partition failed.
func (s *Server) fillFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) (int, bool) {
	budget := int(s.cfg.brokerInt("fetch.max.bytes"))
	if req.Version >= 3 && req.MaxBytes > 0 {
		budget = min(budget, int(req.MaxBytes))
	}
	total, failed := 0, false
	for _, rt := range req.Topics {
		t := s.fetchTopic(req.Version, rt)
		ft := kmsg.NewFetchResponseTopic()
		ft.Topic, ft.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			fp := kmsg.NewFetchResponseTopicPartition()
			fp.Partition = rp.Partition
			fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = -1, -1, -1
			fp.RecordBatches = []byte{}
			var p *partition
			var err error
			switch {
			case t == nil && req.Version >= 13:
				err = kerr.UnknownTopicID
			case t == nil:
				err = kerr.UnknownTopicOrPartition
			default:
				if p = s.partitionOf(t, rp.Partition); p == nil {
					err = kerr.UnknownTopicOrPartition
					if s.clustered() && int(rp.Partition) < len(s.partitionsOf(t)) && rp.Partition >= 0 {
						err = kerr.NotLeaderForPartition // exists, no replica here
					}
				}
			}
			if err == nil {
				var b []byte
				b, err = s.readPartition(p, rp, fetchReplicaID(req), min(int(rp.PartitionMaxBytes), budget-total), total == 0)
				if b != nil {
					// Never nil: kmsg writes nil as a null record set (size
					// -1), which librdkafka refuses as a bad message format.
					fp.RecordBatches = b
				}
				total += len(b)
				fp.HighWatermark = p.hw.Load()
				fp.LastStableOffset = fp.HighWatermark
				fp.LogStartOffset = p.log.StartOffset()
			}
			if err != nil {
				fp.ErrorCode = kafkaproto.ErrorCode(err)
				failed = true
			}
			ft.Partitions = append(ft.Partitions, fp)
		}
		resp.Topics = append(resp.Topics, ft)
	}
	return total, failed
}

// readPartition reads from rp.FetchOffset up to the high watermark. With
// limit <= 0 nothing is read unless first (KIP-74: the first partition with
// data returns at least one batch).
func (s *Server) readPartition(p *partition, rp kmsg.FetchRequestTopicPartition, replica int32, limit int, first bool) ([]byte, error) {
	hw := p.hw.Load()
	if s.clustered() {
		// Only the leader serves; a follower reads up to the leader's log
		// end, a consumer up to the high watermark.
		r, err := s.leaderRole(p)
		if err != nil {
			return nil, err
		}
		if err := checkLeaderEpoch(r, rp.CurrentLeaderEpoch); err != nil {
			return nil, err
		}
		if replica >= 0 {
			hw = p.leo.Load()
		}
	} else if rp.CurrentLeaderEpoch > 0 {
		return nil, fmt.Errorf("%w: epoch %d", kerr.UnknownLeaderEpoch, rp.CurrentLeaderEpoch)
	}
	start := p.log.StartOffset()
	if rp.FetchOffset < start || rp.FetchOffset > hw {
		return nil, fmt.Errorf("%w: offset %d not in [%d, %d]", kerr.OffsetOutOfRange, rp.FetchOffset, start, hw)
	}
	if rp.FetchOffset == hw || (limit <= 0 && !first) {
		return nil, nil
	}
	b, err := p.log.Read(rp.FetchOffset, max(limit, 1))
	if err != nil {
		return nil, err
	}
	return trimToLimit(trimToHW(b, hw), limit, first), nil
}

// trimToLimit keeps the whole batches that fit in limit; with first, at
// least one. The log may return more than limit (it returns at least one
// batch); only the first partition with data may exceed its limits.
func trimToLimit(b []byte, limit int, first bool) []byte {
	if len(b) <= limit {
		return b
	}
	n := 0
	for n < len(b) {
		h, err := kafkaproto.ParseBatchHeader(b[n:])
		if err != nil {
			break
		}
		size := min(h.Size(), len(b)-n)
		if n+size > limit && !(first && n == 0) {
			break
		}
		n += size
	}
	return b[:n]
}

// trimToHW drops batches at or past the high watermark: Read may return
// batches the log holds but whose append has not returned yet.
func trimToHW(b []byte, hw int64) []byte {
	n := 0
	for n < len(b) {
		h, err := kafkaproto.ParseBatchHeader(b[n:])
		if err != nil || h.BaseOffset >= hw {
			break
		}
		n += min(h.Size(), len(b)-n) // a partial last batch is kept: clients skip it
	}
	return b[:n]
}
