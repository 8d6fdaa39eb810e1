// DescribeProducers (key 61), version 0.
//
// Lists each requested partition's idempotent producers from the producer
// state (producers.go): id, epoch, last sequence, last batch's max
// timestamp; no transactions, so coordinator epoch and current transaction
// start offset are -1. Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION; in
// a cluster only the leader answers (NOT_LEADER_OR_FOLLOWER elsewhere).

package server

import (
	"sort"

	"github.com/sluicehq/sluice/broker/kafkaproto"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeProducers(req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		t := s.lookup(rt.Topic)
		dt := kmsg.NewDescribeProducersResponseTopic()
		dt.Topic = rt.Topic
		for _, idx := range rt.Partitions {
			dp := kmsg.NewDescribeProducersResponseTopicPartition()
			dp.Partition = idx
			if p, err := s.servedPartition(t, idx, -1); err != nil {
				dp.ErrorCode = kafkaproto.ErrorCode(err)
			} else {
				dp.ActiveProducers = p.activeProducers()
			}
			dt.Partitions = append(dt.Partitions, dp)
		}
		resp.Topics = append(resp.Topics, dt)
	}
	return resp
}

func (p *partition) activeProducers() []kmsg.DescribeProducersResponseTopicPartitionActiveProducer {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	out := []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
	for id, st := range p.producers {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch = id, int32(st.epoch)
		ap.LastSequence, ap.LastTimestamp = -1, -1
		if last := st.last(); last != nil {
			ap.LastSequence, ap.LastTimestamp = last.lastSeq, last.maxTimestamp
		}
		ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, -1
		out = append(out, ap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
