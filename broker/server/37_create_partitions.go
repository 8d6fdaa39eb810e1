// CreatePartitions (key 37), versions 0-3.
//
// Grows a topic to count partitions: count must exceed the current number
// (INVALID_PARTITIONS); a manual assignment may only name this node
// (INVALID_REPLICA_ASSIGNMENT); validate_only checks without changing.
// Unknown topics are UNKNOWN_TOPIC_OR_PARTITION; a topic named twice is
// INVALID_REQUEST.

package server

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleCreatePartitions(req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		ct := kmsg.NewCreatePartitionsResponseTopic()
		ct.Topic = rt.Topic
		var err error
		t := s.lookup(rt.Topic)
		switch {
		case seen[rt.Topic] > 1:
			err = fmt.Errorf("%w: topic %s named more than once", kerr.InvalidRequest, rt.Topic)
		case t == nil:
			err = fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, rt.Topic)
		}
		for _, a := range rt.Assignment {
			if err == nil && (len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID) {
				err = fmt.Errorf("%w: replicas %v, the only broker is %d", kerr.InvalidReplicaAssignment, a.Replicas, s.cfg.NodeID)
			}
		}
		if err == nil && rt.Assignment != nil && int32(len(rt.Assignment)) != rt.Count-int32(len(s.partitionsOf(t))) {
			err = fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(rt.Assignment), rt.Count-int32(len(s.partitionsOf(t))))
		}
		if err == nil {
			err = s.addPartitions(t, rt.Count, req.ValidateOnly)
		}
		if err != nil {
			ct.ErrorCode = kafkaproto.ErrorCode(err)
			ct.ErrorMessage = kafkaproto.ErrorMessage(err)
		}
		resp.Topics = append(resp.Topics, ct)
	}
	return resp
}
