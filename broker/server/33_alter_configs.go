// AlterConfigs (key 33), versions 0-2.
//
// Topic resources: the given configs replace all of the topic's overrides
// (Kafka's non-incremental semantics); they are validated first (unknown or
// bad: INVALID_CONFIG, nothing changed), persisted, and applied to the
// partition logs. validate_only checks without changing. Broker resources
// are INVALID_REQUEST: broker configs are static (--config).

package server

import (
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleAlterConfigs(req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		ar := kmsg.NewAlterConfigsResponseResource()
		ar.ResourceType, ar.ResourceName = rr.ResourceType, rr.ResourceName
		err := s.alterConfigs(rr, req.ValidateOnly)
		if err != nil {
			ar.ErrorCode = kafkaproto.ErrorCode(err)
			ar.ErrorMessage = kafkaproto.ErrorMessage(err)
		}
		resp.Resources = append(resp.Resources, ar)
	}
	return resp
}

func (s *Server) alterConfigs(rr kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	t, err := s.configTarget(rr.ResourceType, rr.ResourceName)
	if err != nil {
		return err
	}
	configs := map[string]string{}
	for _, c := range rr.Configs {
		if c.Value == nil {
			continue // null removes the override, which replacing already does
		}
		configs[c.Name] = *c.Value
	}
	return s.setTopicConfigs(t, configs, validateOnly)
}

// configTarget resolves an alterable config resource: only topics are.
func (s *Server) configTarget(typ kmsg.ConfigResourceType, name string) (*topic, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := s.lookup(name)
		if t == nil {
			return nil, fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, name)
		}
		return t, nil
	case kmsg.ConfigResourceTypeBroker:
		return nil, fmt.Errorf("%w: broker configs are static; set them with --config", kerr.InvalidRequest)
	}
	return nil, fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, typ)
}
