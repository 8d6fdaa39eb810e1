// Metadata (key 3), versions 0-13.
//
// One broker: this node (Config.NodeID at the advertised host:port), which
// is also the controller and the leader of every partition, leader epoch 0,
// replicas = ISR = [node].
// Topics: v0 empty list or v1+ null list = every topic; v10+ may name a
// topic by id (UNKNOWN_TOPIC_ID when unknown). A missing topic is created
// when auto.create.topics.enable is true and the request allows it (always
// before v4, AllowAutoTopicCreation from v4); otherwise
// UNKNOWN_TOPIC_OR_PARTITION. A bad name is INVALID_TOPIC_EXCEPTION.
// __consumer_offsets and __transaction_state are never auto-created: their
// owning component creates them with its own configs.
// Internal topics (EnsureInternalTopic) are flagged is_internal.
// Topic ids are returned from v10, the cluster id from v2. Authorized
// operations are not computed (left at Kafka's "not requested" value).

package server

import (
	"errors"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleMetadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	if s.clustered() {
		s.clusterBrokers(resp)
	} else {
		host, port := s.advertised()
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
		resp.Brokers = []kmsg.MetadataResponseBroker{b}
		resp.ClusterID = kmsg.StringPtr(s.meta.ClusterID)
		resp.ControllerID = s.cfg.NodeID
	}

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range s.allTopics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
		return resp
	}
	allowCreate := s.cfg.brokerBool("auto.create.topics.enable") && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *topic
		var err error
		switch {
		case rt.Topic == nil || *rt.Topic == "":
			if t = s.lookupID(rt.TopicID); t == nil {
				err = kerr.UnknownTopicID
			}
		default:
			t = s.lookup(*rt.Topic)
			if t == nil && allowCreate && !reservedInternal[*rt.Topic] {
				t, err = s.autoCreate(*rt.Topic)
			} else if t == nil {
				err = kerr.UnknownTopicOrPartition
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = kafkaproto.ErrorCode(err)
			if !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.UnknownTopicID) {
				s.log.Debug("metadata: auto-creating topic failed", "topic", rt.Topic, "err", err)
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(t))
	}
	return resp
}

func (s *Server) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = s.isInternal(t.name)
	if s.clustered() {
		s.clusterPartitions(t, &mt)
		return mt
	}
	for i := range s.partitionsOf(t) {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = s.cfg.NodeID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{s.cfg.NodeID}
		mp.ISR = []int32{s.cfg.NodeID}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
