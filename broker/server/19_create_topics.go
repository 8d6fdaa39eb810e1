// CreateTopics (key 19), versions 0-7.
//
// Per topic: a legal name (INVALID_TOPIC_EXCEPTION), not existing
// (TOPIC_ALREADY_EXISTS), num_partitions >= 1 or -1 for num.partitions
// (INVALID_PARTITIONS), replication factor 1 or -1 (single node; else
// INVALID_REPLICATION_FACTOR), a manual assignment only of this node with
// num_partitions -1 (else INVALID_REPLICA_ASSIGNMENT / INVALID_REQUEST),
// configs known and valid (INVALID_CONFIG naming the config). A topic named
// twice in one request is INVALID_REQUEST for both. validate_only (v1+)
// checks everything and creates nothing. The new topic's id (v7+) and its
// partitions, replication factor and effective configs (v5+) are returned.
// timeout_ms is ignored: creation is synchronous.

package server

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleCreateTopics(req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		ct := kmsg.NewCreateTopicsResponseTopic()
		ct.Topic = rt.Topic
		ct.NumPartitions, ct.ReplicationFactor = -1, -1
		var t *topic
		err := error(nil)
		if seen[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %s named more than once", kerr.InvalidRequest, rt.Topic)
		}
		if err == nil {
			t, err = s.createFromRequest(rt, req.ValidateOnly)
		}
		if err != nil {
			ct.ErrorCode = kafkaproto.ErrorCode(err)
			ct.ErrorMessage = kafkaproto.ErrorMessage(err)
		} else {
			ct.TopicID = t.id
			ct.NumPartitions = int32(len(t.partitions))
			ct.ReplicationFactor = s.replicationFactor(t)
			if req.ValidateOnly && s.clustered() {
				ct.ReplicationFactor = rt.ReplicationFactor
			}
			for _, c := range s.describeTopicConfigs(t.configs, nil, false, false) {
				rc := kmsg.NewCreateTopicsResponseTopicConfig()
				rc.Name, rc.Value, rc.Source = c.Name, c.Value, int8(c.Source)
				ct.Configs = append(ct.Configs, rc)
			}
		}
		resp.Topics = append(resp.Topics, ct)
	}
	return resp
}

func (s *Server) createFromRequest(rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (*topic, error) {
	if s.clustered() {
		return s.createFromRequestCluster(rt, validateOnly)
	}
	if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 {
		return nil, fmt.Errorf("%w: replication factor %d, this cluster has 1 broker", kerr.InvalidReplicationFactor, rt.ReplicationFactor)
	}
	partitions := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if partitions != -1 || rt.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both a replica assignment and partitions or replication factor", kerr.InvalidRequest)
		}
		seen := make([]bool, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(seen) || seen[a.Partition] {
				return nil, fmt.Errorf("%w: partitions must be 0..%d, each once", kerr.InvalidReplicaAssignment, len(seen)-1)
			}
			seen[a.Partition] = true
			if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
				return nil, fmt.Errorf("%w: partition %d replicas %v, the only broker is %d", kerr.InvalidReplicaAssignment, a.Partition, a.Replicas, s.cfg.NodeID)
			}
		}
		partitions = int32(len(rt.ReplicaAssignment))
	}
	if partitions == -1 {
		partitions = int32(s.cfg.brokerInt("num.partitions"))
	}
	configs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return nil, invalidConfig(c.Name, fmt.Errorf("null value"))
		}
		configs[c.Name] = *c.Value
	}
	return s.createTopic(rt.Topic, partitions, configs, validateOnly)
}
