// IncrementalAlterConfigs (key 44), versions 0-1.
//
// Topic resources: SET and DELETE change one override each; APPEND and
// SUBTRACT add or remove items of a list config (cleanup.policy), starting
// from its effective value; on a non-list config they are INVALID_CONFIG. A
// config named twice in one resource is INVALID_REQUEST. The resulting
// overrides are validated as a whole (INVALID_CONFIG, nothing changed),
// persisted and applied. validate_only checks without changing. Broker
// resources are INVALID_REQUEST (static configs).

package server

import (
	"fmt"
	"maps"
	"strings"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleIncrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		ar := kmsg.NewIncrementalAlterConfigsResponseResource()
		ar.ResourceType, ar.ResourceName = rr.ResourceType, rr.ResourceName
		err := s.incrementalAlter(rr, req.ValidateOnly)
		if err != nil {
			ar.ErrorCode = kafkaproto.ErrorCode(err)
			ar.ErrorMessage = kafkaproto.ErrorMessage(err)
		}
		resp.Resources = append(resp.Resources, ar)
	}
	return resp
}

func (s *Server) incrementalAlter(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	t, err := s.configTarget(rr.ResourceType, rr.ResourceName)
	if err != nil {
		return err
	}
	_, current := s.configOf(t)
	next := maps.Clone(current)
	if next == nil {
		next = map[string]string{}
	}
	seen := map[string]bool{}
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return fmt.Errorf("%w: config %s named more than once", kerr.InvalidRequest, c.Name)
		}
		seen[c.Name] = true
		d, ok := topicConfigDef(c.Name)
		if !ok {
			return invalidConfig(c.Name, fmt.Errorf("unknown topic config"))
		}
		value := ""
		if c.Value != nil {
			value = *c.Value
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return invalidConfig(c.Name, fmt.Errorf("null value"))
			}
			next[c.Name] = value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.typ != typList {
				return invalidConfig(c.Name, fmt.Errorf("APPEND and SUBTRACT apply to list configs only"))
			}
			cur, _ := s.topicConfigValue(d, next)
			next[c.Name] = editList(cur, value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return fmt.Errorf("%w: config %s: unknown operation %d", kerr.InvalidRequest, c.Name, c.Op)
		}
	}
	return s.setTopicConfigs(t, next, validateOnly)
}

// editList appends or removes the comma-separated items of edit.
func editList(cur, edit string, add bool) string {
	var items []string
	for _, it := range strings.Split(cur, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	for _, it := range strings.Split(edit, ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		has := contains(items, it)
		switch {
		case add && !has:
			items = append(items, it)
		case !add && has:
			out := items[:0]
			for _, x := range items {
				if x != it {
					out = append(out, x)
				}
			}
			items = out
		}
	}
	return strings.Join(items, ",")
}
