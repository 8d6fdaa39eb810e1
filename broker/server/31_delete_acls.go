// DeleteAcls (31) v0-3.
//
// Deletes the bindings each filter matches (Kafka's filter rules: ANY
// and MATCH; v0 filters are LITERAL) and reports them per filter. An
// invalid filter is INVALID_REQUEST for that filter. Needs ALTER on the
// cluster (CLUSTER_AUTHORIZATION_FAILED for every filter).

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteACLs(rc *reqContext, r *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(r.Filters))
	authorized := s.authorizeCluster(rc, opAlter, r.Key())
	var filters []aclFilter
	var idx []int
	for i, f := range r.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		af := aclFilter{ResourceType: f.ResourceType, ResourceName: f.ResourceName, PatternType: f.ResourcePatternType,
			Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType}
		if r.Version == 0 {
			af.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		if !authorized {
			resp.Results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		if msg := af.validate(); msg != "" {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			resp.Results[i].ErrorMessage = &msg
			continue
		}
		filters = append(filters, af)
		idx = append(idx, i)
	}
	if len(filters) == 0 {
		return resp
	}
	removed, err := s.authz.remove(filters)
	if err != nil {
		s.log.Error("writing ACLs", "err", err)
		msg := "storing the ACLs failed"
		for _, i := range idx {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, &msg
		}
		return resp
	}
	n := 0
	for j, bs := range removed {
		for _, b := range bs {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			resp.Results[idx[j]].MatchingACLs = append(resp.Results[idx[j]].MatchingACLs, m)
			n++
		}
	}
	if n > 0 {
		s.log.Info("ACLs deleted", "count", n, "principal", rc.rcPrincipal())
	}
	return resp
}
