// DeleteTopics (key 20), versions 0-6.
//
// v0-v5 name topics; v6 names them or gives their ids (UNKNOWN_TOPIC_ID).
// Unknown names are UNKNOWN_TOPIC_OR_PARTITION; delete.topic.enable=false
// makes every deletion TOPIC_DELETION_DISABLED. The topic leaves the topic
// table (persisted) first, then its partition logs are deleted after
// in-flight appends finish; long-polling fetches on it are woken.

package server

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if req.Version < 6 {
		topics = nil
		for _, n := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		dt := kmsg.NewDeleteTopicsResponseTopic()
		dt.Topic, dt.TopicID = rt.Topic, rt.TopicID
		var t *topic
		var err error
		switch {
		case !s.cfg.brokerBool("delete.topic.enable"):
			err = fmt.Errorf("%w: delete.topic.enable is false", kerr.TopicDeletionDisabled)
		case rt.Topic != nil && *rt.Topic != "":
			if t = s.lookup(*rt.Topic); t == nil {
				err = fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, *rt.Topic)
			}
		default:
			if t = s.lookupID(rt.TopicID); t == nil {
				err = kerr.UnknownTopicID
			}
		}
		if err == nil {
			dt.Topic, dt.TopicID = kmsg.StringPtr(t.name), t.id
			err = s.deleteTopic(t)
		}
		if err != nil {
			dt.ErrorCode = kafkaproto.ErrorCode(err)
			dt.ErrorMessage = kafkaproto.ErrorMessage(err)
		}
		resp.Topics = append(resp.Topics, dt)
	}
	return resp
}
