// ListOffsets (key 2), versions 0-11.
//
// Per partition, by timestamp: -1 latest (the high watermark), -2 earliest
// (log start), -3 max timestamp (v7+: the offset of the record with the
// largest timestamp), -4 earliest local (v8+: the log start; no tiered
// storage), -5 latest tiered (v9+) and -6 earliest pending upload (v11+):
// offset -1, nothing is tiered; t >= 0: the first offset
// whose timestamp is >= t, or offset -1 when there is none. v0 answers
// old-style offset lists (max_num_offsets honoured for -1/-2). Leader epoch
// (v4+) is 0; a current leader epoch above 0 is UNKNOWN_LEADER_EPOCH. The
// isolation level is ignored (no transactions: LSO = high watermark).

package server

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleListOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		t := s.lookup(rt.Topic)
		ot := kmsg.NewListOffsetsResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewListOffsetsResponseTopicPartition()
			op.Partition = rp.Partition
			op.Timestamp, op.Offset = -1, -1
			epoch := rp.CurrentLeaderEpoch
			if req.Version < 4 {
				epoch = -1
			}
			p, err := s.servedPartition(t, rp.Partition, epoch)
			if err != nil {
				err = fmt.Errorf("%w: %s-%d", err, rt.Topic, rp.Partition)
			} else {
				op.Offset, op.Timestamp, err = listOffset(p, rp.Timestamp)
			}
			if err != nil {
				op.ErrorCode = kafkaproto.ErrorCode(err)
				op.Timestamp, op.Offset = -1, -1
			} else if req.Version == 0 {
				op.OldStyleOffsets = oldStyleOffsets(p, rp, op.Offset)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

func listOffset(p *partition, ts int64) (offset, timestamp int64, err error) {
	hw := p.hw.Load()
	switch ts {
	case -1:
		return hw, -1, nil
	case -2, -4:
		return p.log.StartOffset(), -1, nil
	case -5, -6:
		return -1, -1, nil
	case -3:
		mts, off := p.log.MaxTimestamp()
		if off < 0 || off >= hw {
			return -1, -1, nil
		}
		return off, mts, nil
	}
	if ts < 0 {
		return -1, -1, fmt.Errorf("%w: timestamp %d", kerr.InvalidRequest, ts)
	}
	off, found, err := p.log.OffsetForTimestamp(ts)
	if err != nil {
		return -1, -1, err
	}
	if off < 0 || off >= hw {
		return -1, -1, nil
	}
	return off, found, nil
}

// oldStyleOffsets renders a v0 answer: for latest, [hw, start] trimmed to
// max_num_offsets (Kafka lists segment bases too; the two ends suffice for
// clients, which only ever ask for one); otherwise the one offset.
func oldStyleOffsets(p *partition, rp kmsg.ListOffsetsRequestTopicPartition, offset int64) []int64 {
	if offset < 0 || rp.MaxNumOffsets <= 0 {
		return []int64{}
	}
	out := []int64{offset}
	if rp.Timestamp == -1 && rp.MaxNumOffsets > 1 {
		if start := p.log.StartOffset(); start != offset {
			out = append(out, start)
		}
	}
	return out
}
