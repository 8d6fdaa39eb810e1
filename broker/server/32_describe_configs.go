// DescribeConfigs (key 32), versions 0-4.
//
// Topic resources: every topic config Sluice accepts (topicconfig.go) with
// its effective value and source (topic override, broker --config, or
// default); config_names limits the list. Synonyms (v1+) list the topic
// override, the broker key and the default; documentation and config types
// from v3. Broker resources (name "" or this node's id): the broker configs
// the server reads plus the topic-default broker keys, all read-only.
// Other resource types, or another broker's id, are INVALID_REQUEST;
// unknown topics UNKNOWN_TOPIC_OR_PARTITION.

package server

import (
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeConfigs(req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		dr := kmsg.NewDescribeConfigsResponseResource()
		dr.ResourceType, dr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := s.lookup(rr.ResourceName)
			if t == nil {
				err = fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, rr.ResourceName)
				break
			}
			_, overrides := s.configOf(t)
			dr.Configs = s.describeTopicConfigs(overrides, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBroker:
			if err = s.checkBrokerResource(rr.ResourceName); err == nil {
				dr.Configs = s.describeBrokerConfigs(rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
			}
		default:
			err = fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, rr.ResourceType)
		}
		if err != nil {
			dr.ErrorCode = kafkaproto.ErrorCode(err)
			dr.ErrorMessage = kafkaproto.ErrorMessage(err)
		}
		resp.Resources = append(resp.Resources, dr)
	}
	return resp
}

func (s *Server) checkBrokerResource(name string) error {
	if name != "" && name != strconv.Itoa(int(s.cfg.NodeID)) {
		return fmt.Errorf("%w: broker %q is not this node (%d)", kerr.InvalidRequest, name, s.cfg.NodeID)
	}
	return nil
}

func (s *Server) describeBrokerConfigs(keys []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	var out []kmsg.DescribeConfigsResponseResourceConfig
	add := func(name, def, doc string, typ kmsg.ConfigType) {
		if keys != nil && !contains(keys, name) {
			return
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name, rc.ReadOnly, rc.ConfigType = name, true, typ
		v, ok := s.cfg.Configs[name]
		rc.Source = srcStaticBroker
		if !ok {
			v, rc.Source, rc.IsDefault = def, srcDefault, true
		}
		rc.Value = kmsg.StringPtr(v)
		if synonyms {
			if ok {
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(name, v, srcStaticBroker))
			}
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(name, def, srcDefault))
		}
		if docs {
			rc.Documentation = kmsg.StringPtr(doc)
		}
		out = append(out, rc)
	}
	for _, d := range brokerConfigDefs {
		add(d.name, d.def, d.doc, d.typ)
	}
	for _, d := range topicConfigDefs {
		add(d.brokerKey, d.def, "default of topic config "+d.name+": "+d.doc, d.typ)
	}
	return out
}
