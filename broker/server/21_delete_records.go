// DeleteRecords (key 21), versions 0-2.
//
// Moves a partition's log start offset forward: offset -1 means the high
// watermark; anything below 0 otherwise, or above the high watermark, is
// OFFSET_OUT_OF_RANGE. An offset at or below the current start changes
// nothing. The response carries the new low watermark (log start offset).
// Holds the partition's life lock shared, so the log cannot close under it.

package server

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteRecords(req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		t := s.lookup(rt.Topic)
		dt := kmsg.NewDeleteRecordsResponseTopic()
		dt.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			dp := kmsg.NewDeleteRecordsResponseTopicPartition()
			dp.Partition, dp.LowWatermark = rp.Partition, -1
			p, err := s.servedPartition(t, rp.Partition, -1)
			if err != nil {
				err = fmt.Errorf("%w: %s-%d", err, rt.Topic, rp.Partition)
			} else {
				dp.LowWatermark, err = deleteRecords(p, rp.Offset)
			}
			if err != nil {
				dp.ErrorCode = kafkaproto.ErrorCode(err)
			}
			dt.Partitions = append(dt.Partitions, dp)
		}
		resp.Topics = append(resp.Topics, dt)
	}
	return resp
}

func deleteRecords(p *partition, offset int64) (int64, error) {
	p.life.RLock()
	defer p.life.RUnlock()
	if p.deleted {
		return -1, kerr.UnknownTopicOrPartition
	}
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: offset %d, high watermark %d", kerr.OffsetOutOfRange, offset, hw)
	}
	if offset > p.log.StartOffset() {
		if err := p.log.DeleteRecordsBefore(offset); err != nil {
			return -1, fmt.Errorf("deleting records of %s-%d before %d: %w", p.topic, p.index, offset, err)
		}
	}
	return p.log.StartOffset(), nil
}
