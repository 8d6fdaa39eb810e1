// Group APIs: OffsetCommit (8) 0-10, OffsetFetch (9) 0-10, JoinGroup (11)
// 0-9, Heartbeat (12) 0-4, LeaveGroup (13) 0-5, SyncGroup (14) 0-5,
// DescribeGroups (15) 0-6, ListGroups (16) 0-5, DeleteGroups (42) 0-2,
// OffsetDelete (47) 0.
//
// All delegated to the GroupCoordinator (broker/group). Without one every
// group request is answered COORDINATOR_NOT_AVAILABLE in the shape of its
// response, so clients back off instead of hanging.

package server

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WithGroupContext lets the coordinator learn who is asking: fn derives the
// context a group request is handled under from the client id and the
// client's host (DescribeGroups reports both; member ids start with the
// client id, as in Kafka).
func WithGroupContext(fn func(ctx context.Context, clientID, host string) context.Context) Option {
	return func(s *Server) { s.groupCtx = fn }
}

func (s *Server) groupContext(ctx context.Context, rc *reqContext) context.Context {
	if s.groupCtx == nil || rc == nil {
		return ctx
	}
	id := ""
	if rc.clientID != nil {
		id = *rc.clientID
	}
	host := rc.remote
	if h, _, err := net.SplitHostPort(rc.remote); err == nil {
		host = h
	}
	return s.groupCtx(ctx, id, host)
}

func (s *Server) handleGroup(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if s.groups != nil {
		resp, err := s.groups.Handle(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("group coordinator: %w", err)
		}
		if resp == nil || resp.Key() != req.Key() {
			return nil, fmt.Errorf("group coordinator answered %s with %T", kmsg.NameForKey(req.Key()), resp)
		}
		resp.SetVersion(req.GetVersion())
		return resp, nil
	}
	return groupUnavailable(req), nil
}

// groupUnavailable answers req with COORDINATOR_NOT_AVAILABLE everywhere
// the response has an error code.
func groupUnavailable(req kmsg.Request) kmsg.Response {
	return groupErrorResponse(req, kerr.CoordinatorNotAvailable.Code)
}

// groupErrorResponse answers req with code everywhere the response has an
// error code (also GROUP_AUTHORIZATION_FAILED, authz_apis.go).
func groupErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.OffsetCommitRequest:
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.OffsetFetchRequest:
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = code
		for _, g := range r.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp
	case *kmsg.JoinGroupRequest:
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.HeartbeatRequest:
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.LeaveGroupRequest:
		resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.SyncGroupRequest:
		resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.DescribeGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range r.Groups {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp
	case *kmsg.ListGroupsRequest:
		resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.DeleteGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, g := range r.Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp
	case *kmsg.OffsetDeleteRequest:
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp
	}
	resp := req.ResponseKind()
	return resp
}
