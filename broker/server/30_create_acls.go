// CreateAcls (30) v0-3.
//
// Stores ACL bindings (v0: LITERAL patterns), persisted in acls.json
// before the response. One result per creation: an invalid binding
// (resource type other than TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID,
// a cluster not named kafka-cluster, pattern other than LITERAL or
// PREFIXED, principal not TYPE:NAME, empty host, ANY operation or
// permission) is INVALID_REQUEST; the valid ones are stored. Needs ALTER
// on the cluster (CLUSTER_AUTHORIZATION_FAILED for every creation).

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleCreateACLs(rc *reqContext, r *kmsg.CreateACLsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	authorized := s.authorizeCluster(rc, opAlter, r.Key())
	var add []aclBinding
	var addIdx []int
	for _, c := range r.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		b := aclBinding{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if r.Version == 0 {
			b.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		if !authorized {
			res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		} else if msg := b.validate(); msg != "" {
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = &msg
		} else {
			add = append(add, b)
			addIdx = append(addIdx, len(resp.Results))
		}
		resp.Results = append(resp.Results, res)
	}
	if len(add) > 0 {
		if err := s.authz.add(add); err != nil {
			s.log.Error("writing ACLs", "err", err)
			msg := "storing the ACLs failed"
			for _, i := range addIdx {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, &msg
			}
		} else {
			s.log.Info("ACLs created", "count", len(add), "principal", rc.rcPrincipal())
		}
	}
	return resp
}
