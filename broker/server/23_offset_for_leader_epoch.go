// OffsetForLeaderEpoch (key 23), versions 0-4.
//
// A single node has had one leader epoch, 0, since offset 0. For requested
// epoch 0 the end offset is the high watermark; for any other epoch the
// answer is undefined (epoch -1, offset -1), as Kafka answers epochs it
// has no record of. current_leader_epoch (v2+) above 0 is
// UNKNOWN_LEADER_EPOCH. Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION.
// (Cluster mode will answer from the real epoch history.)

package server

import (
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleOffsetForLeaderEpoch(req *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		t := s.lookup(rt.Topic)
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			op.Partition, op.LeaderEpoch, op.EndOffset = rp.Partition, -1, -1
			var p *partition
			if t != nil {
				p = s.partitionOf(t, rp.Partition)
			}
			if s.clustered() {
				current := rp.CurrentLeaderEpoch
				if req.Version < 2 {
					current = -1
				}
				if p, err := s.servedPartition(t, rp.Partition, current); err != nil {
					op.ErrorCode = kafkaproto.ErrorCode(err)
				} else {
					op.LeaderEpoch, op.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
					if req.ReplicaID < 0 && op.EndOffset > p.hw.Load() {
						op.EndOffset = p.hw.Load() // consumers see only what is committed
					}
				}
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			switch {
			case p == nil:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case req.Version >= 2 && rp.CurrentLeaderEpoch > 0:
				op.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch == 0:
				op.LeaderEpoch, op.EndOffset = 0, p.hw.Load()
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
