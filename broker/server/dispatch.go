package server

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handle runs the handler for one decoded request (Produce excepted: the
// connection calls handleProduce directly). A returned error closes the
// client's connection; protocol-level failures go in the response.
func (s *Server) handle(ctx context.Context, rc *reqContext, req kmsg.Request) (kmsg.Response, error) {
	if s.aclsEnabled() {
		return s.handleAuthorized(ctx, rc, req) // authz_apis.go
	}
	return s.handleUnchecked(ctx, rc, req)
}

// handleUnchecked runs the handler without ACL checks.
func (s *Server) handleUnchecked(ctx context.Context, rc *reqContext, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		return s.handleAPIVersions(r), nil
	case *kmsg.MetadataRequest:
		return s.handleMetadata(r), nil
	case *kmsg.ProduceRequest:
		return s.handleProduce(ctx, rc, r), nil
	case *kmsg.FetchRequest:
		return s.handleFetch(ctx, r), nil
	case *kmsg.ListOffsetsRequest:
		return s.handleListOffsets(r), nil
	case *kmsg.FindCoordinatorRequest:
		if s.clustered() && r.CoordinatorType == 0 {
			// The group coordinator knows which broker leads its partition.
			return s.handleGroup(s.groupContext(ctx, rc), req)
		}
		return s.handleFindCoordinator(r), nil
	case *kmsg.CreateTopicsRequest:
		return s.handleCreateTopics(r), nil
	case *kmsg.DeleteTopicsRequest:
		return s.handleDeleteTopics(r), nil
	case *kmsg.CreatePartitionsRequest:
		return s.handleCreatePartitions(r), nil
	case *kmsg.DescribeConfigsRequest:
		return s.handleDescribeConfigs(r), nil
	case *kmsg.AlterConfigsRequest:
		return s.handleAlterConfigs(r), nil
	case *kmsg.IncrementalAlterConfigsRequest:
		return s.handleIncrementalAlterConfigs(r), nil
	case *kmsg.DeleteRecordsRequest:
		return s.handleDeleteRecords(r), nil
	case *kmsg.InitProducerIDRequest:
		return s.handleInitProducerID(r), nil
	case *kmsg.OffsetForLeaderEpochRequest:
		return s.handleOffsetForLeaderEpoch(r), nil
	case *kmsg.DescribeClusterRequest:
		return s.handleDescribeCluster(r), nil
	case *kmsg.DescribeProducersRequest:
		return s.handleDescribeProducers(r), nil
	case *kmsg.SASLHandshakeRequest, *kmsg.SASLAuthenticateRequest:
		// The connection answers these itself (conn.authGate); reached
		// only when a request is handled without a connection.
		return saslOutOfBand(req), nil
	case *kmsg.DescribeACLsRequest:
		return s.handleDescribeACLs(rc, r), nil
	case *kmsg.CreateACLsRequest:
		return s.handleCreateACLs(rc, r), nil
	case *kmsg.DeleteACLsRequest:
		return s.handleDeleteACLs(rc, r), nil
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		return s.handleDescribeUserSCRAMCredentials(rc, r), nil
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		return s.handleAlterUserSCRAMCredentials(rc, r), nil
	case *kmsg.OffsetCommitRequest, *kmsg.OffsetFetchRequest, *kmsg.JoinGroupRequest,
		*kmsg.HeartbeatRequest, *kmsg.LeaveGroupRequest, *kmsg.SyncGroupRequest,
		*kmsg.DescribeGroupsRequest, *kmsg.ListGroupsRequest, *kmsg.DeleteGroupsRequest,
		*kmsg.OffsetDeleteRequest:
		return s.handleGroup(s.groupContext(ctx, rc), req)
	}
	// DecodeRequest only yields advertised keys, so this is a programmer
	// error: a key was added to the table without a handler.
	return nil, fmt.Errorf("no handler for %s", kmsg.NameForKey(req.Key()))
}
