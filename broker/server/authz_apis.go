package server

// Per-API authorization, applied before the handlers when ACLs are on
// (Server.handle and Server.produce). Each request is split: the parts
// the principal may touch go to the unchanged handler, the others are
// answered with the authorization error in the response's shape, so a
// refused part never reaches a handler and writes nothing. The checks
// follow Kafka's KafkaApis:
//
//	Produce                 WRITE topic                          TOPIC_AUTHORIZATION_FAILED
//	Fetch                   READ topic                           TOPIC_AUTHORIZATION_FAILED
//	Metadata                DESCRIBE topic (listing all: filter); auto-create needs CREATE cluster or topic
//	ListOffsets, OffsetForLeaderEpoch   DESCRIBE topic
//	CreateTopics            CREATE cluster or CREATE topic
//	DeleteTopics, DeleteRecords         DELETE topic
//	CreatePartitions        ALTER topic
//	DescribeConfigs         DESCRIBE_CONFIGS topic / cluster     TOPIC_ / CLUSTER_AUTHORIZATION_FAILED
//	(Incremental)AlterConfigs           ALTER_CONFIGS topic / cluster
//	InitProducerID          transactional: WRITE transactional id; else IDEMPOTENT_WRITE cluster or WRITE on any topic
//	FindCoordinator         DESCRIBE group (transaction: DESCRIBE transactional id)
//	Join/Sync/Heartbeat/LeaveGroup      READ group               GROUP_AUTHORIZATION_FAILED
//	OffsetCommit            READ group, READ topic
//	OffsetFetch             DESCRIBE group, DESCRIBE topic
//	DescribeGroups          DESCRIBE group; ListGroups: filtered unless DESCRIBE cluster
//	DeleteGroups            DELETE group; OffsetDelete: DELETE group, READ topic
//	DescribeProducers       READ topic
//	DescribeCluster, ApiVersions, SASL: no check
//	ACL and SCRAM APIs      checked in their handlers (DESCRIBE / ALTER cluster)

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// allowed is authorize without counting a refusal (for either-or checks).
func (s *Server) allowed(rc *reqContext, typ kmsg.ACLResourceType, name string, op kmsg.ACLOperation) bool {
	if !s.aclsEnabled() {
		return true
	}
	host := ""
	if rc != nil {
		host = rc.clientHost()
	}
	return s.authz.authorize(rc.rcPrincipal(), host, typ, name, op)
}

// topicName resolves a topic given by name or (newer versions) by id;
// "" for an unknown id, which the handler answers UNKNOWN_TOPIC_ID.
func (s *Server) topicName(name string, id [16]byte) string {
	if name != "" || id == ([16]byte{}) {
		return name
	}
	if t := s.lookupID(id); t != nil {
		return t.name
	}
	return ""
}

// topicAllowed checks op on a topic given by name or id.
func (s *Server) topicAllowed(rc *reqContext, name string, id [16]byte, op kmsg.ACLOperation, api int16) bool {
	n := s.topicName(name, id)
	return n == "" || s.authorize(rc, resTopic, n, op, api)
}

// split partitions xs into those ok accepts and the rest.
func split[T any](xs []T, ok func(*T) bool) (kept, denied []T) {
	kept = make([]T, 0, len(xs))
	for i := range xs {
		if ok(&xs[i]) {
			kept = append(kept, xs[i])
		} else {
			denied = append(denied, xs[i])
		}
	}
	return kept, denied
}

var (
	codeTopicAuth   = kerr.TopicAuthorizationFailed.Code
	codeGroupAuth   = kerr.GroupAuthorizationFailed.Code
	codeClusterAuth = kerr.ClusterAuthorizationFailed.Code
)

// produce is handleProduce behind the WRITE check.
func (s *Server) produce(ctx context.Context, rc *reqContext, p *kmsg.ProduceRequest) kmsg.Response {
	if !s.aclsEnabled() {
		return s.handleProduce(ctx, rc, p)
	}
	kept, denied := split(p.Topics, func(t *kmsg.ProduceRequestTopic) bool {
		return s.topicAllowed(rc, t.Topic, t.TopicID, opWrite, p.Key())
	})
	if len(denied) == 0 {
		return s.handleProduce(ctx, rc, p)
	}
	p.Topics = kept
	if p.Acks == 0 {
		if len(kept) > 0 {
			s.handleProduce(ctx, rc, p)
		}
		if rc.closeAfter != nil {
			rc.closeAfter()
		}
		return nil
	}
	resp := s.handleProduce(ctx, rc, p).(*kmsg.ProduceResponse)
	for _, t := range denied {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, pp := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = pp.Partition, codeTopicAuth, -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// handleAuthorized applies the ACL checks of the table above, then the
// handler.
func (s *Server) handleAuthorized(ctx context.Context, rc *reqContext, req kmsg.Request) (kmsg.Response, error) {
	key := req.Key()
	topicOK := func(op kmsg.ACLOperation) func(string) bool {
		return func(name string) bool { return s.authorize(rc, resTopic, name, op, key) }
	}
	groupOK := func(name string, op kmsg.ACLOperation) bool { return s.authorize(rc, resGroup, name, op, key) }

	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		return s.produce(ctx, rc, r), nil

	case *kmsg.FetchRequest:
		kept, denied := split(r.Topics, func(t *kmsg.FetchRequestTopic) bool {
			return s.topicAllowed(rc, t.Topic, t.TopicID, opRead, key)
		})
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		var resp *kmsg.FetchResponse
		if len(kept) > 0 {
			resp = s.handleFetch(ctx, r).(*kmsg.FetchResponse)
		} else {
			resp = r.ResponseKind().(*kmsg.FetchResponse) // no long poll for nothing
		}
		for _, t := range denied {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = p.Partition, codeTopicAuth, -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.MetadataRequest:
		var denied []string
		if r.Topics != nil {
			kept, deniedTopics := split(r.Topics, func(t *kmsg.MetadataRequestTopic) bool {
				name := ""
				if t.Topic != nil {
					name = *t.Topic
				}
				return s.topicAllowed(rc, name, t.TopicID, opDescribe, key)
			})
			for _, t := range deniedTopics {
				denied = append(denied, s.topicName(deref(t.Topic), t.TopicID))
			}
			if len(kept) == 0 && r.Version == 0 {
				// v0 reads an empty list as "all topics": answer the
				// brokers only.
				r.Topics = nil
				resp := s.handleMetadata(r).(*kmsg.MetadataResponse)
				resp.Topics = nil
				return appendMetadataDenied(resp, denied), nil
			}
			r.Topics = kept
			if r.AllowAutoTopicCreation && !s.allowed(rc, resCluster, clusterResourceName, opCreate) {
				for _, t := range kept {
					if t.Topic != nil && !s.allowed(rc, resTopic, *t.Topic, opCreate) {
						r.AllowAutoTopicCreation = false // a mixed request creates none
					}
				}
			}
		}
		resp := s.handleMetadata(r).(*kmsg.MetadataResponse)
		visible := resp.Topics[:0]
		for _, t := range resp.Topics {
			if t.Topic == nil || t.ErrorCode != 0 || s.allowed(rc, resTopic, *t.Topic, opDescribe) {
				visible = append(visible, t)
			}
		}
		resp.Topics = visible
		return appendMetadataDenied(resp, denied), nil

	case *kmsg.ListOffsetsRequest:
		kept, denied := split(r.Topics, func(t *kmsg.ListOffsetsRequestTopic) bool { return topicOK(opDescribe)(t.Topic) })
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp := s.handleListOffsets(r).(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.Offset, rp.Timestamp = p.Partition, codeTopicAuth, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.OffsetForLeaderEpochRequest:
		kept, denied := split(r.Topics, func(t *kmsg.OffsetForLeaderEpochRequestTopic) bool { return topicOK(opDescribe)(t.Topic) })
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp := s.handleOffsetForLeaderEpoch(r).(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, codeTopicAuth, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.CreateTopicsRequest:
		clusterCreate := s.allowed(rc, resCluster, clusterResourceName, opCreate)
		kept, denied := split(r.Topics, func(t *kmsg.CreateTopicsRequestTopic) bool {
			return clusterCreate || topicOK(opCreate)(t.Topic)
		})
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp := s.handleCreateTopics(r).(*kmsg.CreateTopicsResponse)
		for _, t := range denied {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.NumPartitions, rt.ReplicationFactor = t.Topic, codeTopicAuth, -1, -1
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.DeleteTopicsRequest:
		keptNames, deniedNames := split(r.TopicNames, func(n *string) bool { return topicOK(opDelete)(*n) })
		kept, denied := split(r.Topics, func(t *kmsg.DeleteTopicsRequestTopic) bool {
			return s.topicAllowed(rc, deref(t.Topic), t.TopicID, opDelete, key)
		})
		if len(deniedNames) == 0 && len(denied) == 0 {
			break
		}
		r.TopicNames, r.Topics = keptNames, kept
		resp := s.handleDeleteTopics(r).(*kmsg.DeleteTopicsResponse)
		for _, n := range deniedNames {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = &n, codeTopicAuth
			resp.Topics = append(resp.Topics, rt)
		}
		for _, t := range denied {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, codeTopicAuth
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.CreatePartitionsRequest:
		kept, denied := split(r.Topics, func(t *kmsg.CreatePartitionsRequestTopic) bool { return topicOK(opAlter)(t.Topic) })
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp := s.handleCreatePartitions(r).(*kmsg.CreatePartitionsResponse)
		for _, t := range denied {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, codeTopicAuth
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.DeleteRecordsRequest:
		kept, denied := split(r.Topics, func(t *kmsg.DeleteRecordsRequestTopic) bool { return topicOK(opDelete)(t.Topic) })
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp := s.handleDeleteRecords(r).(*kmsg.DeleteRecordsResponse)
		for _, t := range denied {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, codeTopicAuth, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil

	case *kmsg.DescribeConfigsRequest:
		kept, denied := split(r.Resources, func(x *kmsg.DescribeConfigsRequestResource) bool {
			return s.configAllowed(rc, x.ResourceType, x.ResourceName, opDescribeConfigs, key)
		})
		if len(denied) == 0 {
			break
		}
		r.Resources = kept
		resp := s.handleDescribeConfigs(r).(*kmsg.DescribeConfigsResponse)
		for _, x := range denied {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = x.ResourceType, x.ResourceName, configAuthCode(x.ResourceType)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil

	case *kmsg.AlterConfigsRequest:
		kept, denied := split(r.Resources, func(x *kmsg.AlterConfigsRequestResource) bool {
			return s.configAllowed(rc, x.ResourceType, x.ResourceName, opAlterConfigs, key)
		})
		if len(denied) == 0 {
			break
		}
		r.Resources = kept
		resp := s.handleAlterConfigs(r).(*kmsg.AlterConfigsResponse)
		for _, x := range denied {
			rr := kmsg.NewAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = x.ResourceType, x.ResourceName, configAuthCode(x.ResourceType)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil

	case *kmsg.IncrementalAlterConfigsRequest:
		kept, denied := split(r.Resources, func(x *kmsg.IncrementalAlterConfigsRequestResource) bool {
			return s.configAllowed(rc, x.ResourceType, x.ResourceName, opAlterConfigs, key)
		})
		if len(denied) == 0 {
			break
		}
		r.Resources = kept
		resp := s.handleIncrementalAlterConfigs(r).(*kmsg.IncrementalAlterConfigsResponse)
		for _, x := range denied {
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = x.ResourceType, x.ResourceName, configAuthCode(x.ResourceType)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil

	case *kmsg.InitProducerIDRequest:
		code := int16(0)
		if r.TransactionalID != nil {
			if !s.authorize(rc, resTxnID, *r.TransactionalID, opWrite, key) {
				code = kerr.TransactionalIDAuthorizationFailed.Code
			}
		} else if !s.allowed(rc, resCluster, clusterResourceName, opIdempotentWrite) &&
			!s.authz.authorizeAny(rc.rcPrincipal(), rc.clientHost(), resTopic, opWrite) {
			s.metrics.authzDenied.WithLabelValues(apiName(key)).Inc()
			code = codeClusterAuth
		}
		if code != 0 {
			resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
			return resp, nil
		}

	case *kmsg.FindCoordinatorRequest:
		typ, code := resGroup, codeGroupAuth
		if r.CoordinatorType == 1 {
			typ, code = resTxnID, kerr.TransactionalIDAuthorizationFailed.Code
		}
		ok := func(k *string) bool { return s.authorize(rc, typ, *k, opDescribe, key) }
		if r.Version < 4 {
			if ok(&r.CoordinatorKey) {
				break
			}
			resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
			return resp, nil
		}
		kept, denied := split(r.CoordinatorKeys, ok)
		if len(denied) == 0 {
			break
		}
		r.CoordinatorKeys = kept
		resp := s.handleFindCoordinator(r).(*kmsg.FindCoordinatorResponse)
		for _, k := range denied {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Port, c.ErrorCode = k, -1, -1, code
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp, nil

	case *kmsg.JoinGroupRequest:
		if !groupOK(r.Group, opRead) {
			return groupErrorResponse(req, codeGroupAuth), nil
		}
	case *kmsg.SyncGroupRequest:
		if !groupOK(r.Group, opRead) {
			return groupErrorResponse(req, codeGroupAuth), nil
		}
	case *kmsg.HeartbeatRequest:
		if !groupOK(r.Group, opRead) {
			return groupErrorResponse(req, codeGroupAuth), nil
		}
	case *kmsg.LeaveGroupRequest:
		if !groupOK(r.Group, opRead) {
			return groupErrorResponse(req, codeGroupAuth), nil
		}

	case *kmsg.OffsetCommitRequest:
		if !groupOK(r.Group, opRead) {
			return groupErrorResponse(req, codeGroupAuth), nil
		}
		kept, denied := split(r.Topics, func(t *kmsg.OffsetCommitRequestTopic) bool {
			return s.topicAllowed(rc, t.Topic, t.TopicID, opRead, key)
		})
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp, err := s.handleUnchecked(ctx, rc, r)
		if err != nil {
			return nil, err
		}
		cr := resp.(*kmsg.OffsetCommitResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopicAuth
				rt.Partitions = append(rt.Partitions, rp)
			}
			cr.Topics = append(cr.Topics, rt)
		}
		return cr, nil

	case *kmsg.OffsetFetchRequest:
		if r.Version < 8 {
			if !groupOK(r.Group, opDescribe) {
				return groupErrorResponse(req, codeGroupAuth), nil
			}
		} else {
			kept, denied := split(r.Groups, func(g *kmsg.OffsetFetchRequestGroup) bool { return groupOK(g.Group, opDescribe) })
			if len(denied) > 0 {
				r.Groups = kept
				resp, err := s.handleUnchecked(ctx, rc, r)
				if err != nil {
					return nil, err
				}
				fr := resp.(*kmsg.OffsetFetchResponse)
				for _, g := range denied {
					rg := kmsg.NewOffsetFetchResponseGroup()
					rg.Group, rg.ErrorCode = g.Group, codeGroupAuth
					fr.Groups = append(fr.Groups, rg)
				}
				s.hideOffsetFetchTopics(rc, fr)
				return fr, nil
			}
		}
		resp, err := s.handleUnchecked(ctx, rc, r)
		if err != nil {
			return nil, err
		}
		s.hideOffsetFetchTopics(rc, resp.(*kmsg.OffsetFetchResponse))
		return resp, nil

	case *kmsg.DescribeGroupsRequest:
		kept, denied := split(r.Groups, func(g *string) bool { return groupOK(*g, opDescribe) })
		if len(denied) == 0 {
			break
		}
		r.Groups = kept
		resp, err := s.handleUnchecked(ctx, rc, r)
		if err != nil {
			return nil, err
		}
		dr := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range denied {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, codeGroupAuth
			dr.Groups = append(dr.Groups, rg)
		}
		return dr, nil

	case *kmsg.ListGroupsRequest:
		resp, err := s.handleUnchecked(ctx, rc, r)
		if err != nil || s.allowed(rc, resCluster, clusterResourceName, opDescribe) {
			return resp, err
		}
		lr := resp.(*kmsg.ListGroupsResponse)
		visible := lr.Groups[:0]
		for _, g := range lr.Groups {
			if s.allowed(rc, resGroup, g.Group, opDescribe) {
				visible = append(visible, g)
			}
		}
		lr.Groups = visible
		return lr, nil

	case *kmsg.DeleteGroupsRequest:
		kept, denied := split(r.Groups, func(g *string) bool { return groupOK(*g, opDelete) })
		if len(denied) == 0 {
			break
		}
		r.Groups = kept
		resp, err := s.handleUnchecked(ctx, rc, r)
		if err != nil {
			return nil, err
		}
		dr := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range denied {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, codeGroupAuth
			dr.Groups = append(dr.Groups, rg)
		}
		return dr, nil

	case *kmsg.OffsetDeleteRequest:
		if !groupOK(r.Group, opDelete) {
			return groupErrorResponse(req, codeGroupAuth), nil
		}
		kept, denied := split(r.Topics, func(t *kmsg.OffsetDeleteRequestTopic) bool { return topicOK(opRead)(t.Topic) })
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp, err := s.handleUnchecked(ctx, rc, r)
		if err != nil {
			return nil, err
		}
		dr := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopicAuth
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
		return dr, nil

	case *kmsg.DescribeProducersRequest:
		kept, denied := split(r.Topics, func(t *kmsg.DescribeProducersRequestTopic) bool { return topicOK(opRead)(t.Topic) })
		if len(denied) == 0 {
			break
		}
		r.Topics = kept
		resp := s.handleDescribeProducers(r).(*kmsg.DescribeProducersResponse)
		for _, t := range denied {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codeTopicAuth
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return s.handleUnchecked(ctx, rc, req)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func appendMetadataDenied(resp *kmsg.MetadataResponse, denied []string) *kmsg.MetadataResponse {
	for _, name := range denied {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic, t.ErrorCode = &name, codeTopicAuth
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// configAllowed checks a config resource: a topic, or a broker (the
// cluster resource).
func (s *Server) configAllowed(rc *reqContext, typ kmsg.ConfigResourceType, name string, op kmsg.ACLOperation, api int16) bool {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return s.authorize(rc, resTopic, name, op, api)
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return s.authorize(rc, resCluster, clusterResourceName, op, api)
	}
	return true // the handler refuses other types
}

func configAuthCode(typ kmsg.ConfigResourceType) int16 {
	if typ == kmsg.ConfigResourceTypeTopic {
		return codeTopicAuth
	}
	return codeClusterAuth
}

// hideOffsetFetchTopics marks the committed offsets of topics the
// principal may not DESCRIBE as TOPIC_AUTHORIZATION_FAILED.
func (s *Server) hideOffsetFetchTopics(rc *reqContext, resp *kmsg.OffsetFetchResponse) {
	for i := range resp.Topics {
		if !s.allowed(rc, resTopic, resp.Topics[i].Topic, opDescribe) {
			for j := range resp.Topics[i].Partitions {
				p := &resp.Topics[i].Partitions[j]
				p.ErrorCode, p.Offset, p.Metadata = codeTopicAuth, -1, nil
			}
		}
	}
	for g := range resp.Groups {
		for i := range resp.Groups[g].Topics {
			t := &resp.Groups[g].Topics[i]
			if n := s.topicName(t.Topic, t.TopicID); n != "" && !s.allowed(rc, resTopic, n, opDescribe) {
				for j := range t.Partitions {
					p := &t.Partitions[j]
					p.ErrorCode, p.Offset, p.Metadata = codeTopicAuth, -1, nil
				}
			}
		}
	}
}
