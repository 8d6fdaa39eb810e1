// DescribeAcls (29) v0-3.
//
// Returns the ACL bindings the filter matches, grouped by resource
// pattern (v0 filters are LITERAL). Needs DESCRIBE on the cluster
// (CLUSTER_AUTHORIZATION_FAILED); with the authorizer off, the stored
// bindings are still listed. An invalid filter (unknown type values) is
// INVALID_REQUEST.

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeACLs(rc *reqContext, r *kmsg.DescribeACLsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !s.authorizeCluster(rc, opDescribe, r.Key()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	pattern := r.ResourcePatternType
	if r.Version == 0 {
		pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	f := aclFilter{ResourceType: r.ResourceType, ResourceName: r.ResourceName, PatternType: pattern,
		Principal: r.Principal, Host: r.Host, Operation: r.Operation, Permission: r.PermissionType}
	if msg := f.validate(); msg != "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = &msg
		return resp
	}
	type key struct {
		typ     kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	idx := map[key]int{}
	for _, b := range s.authz.list(&f) {
		k := key{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := idx[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = k.typ, k.name, k.pattern
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			idx[k] = i
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return resp
}

// validate reports why f is not a usable filter ("" when it is).
func (f *aclFilter) validate() string {
	switch {
	case f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeUser:
		return "unknown resource type"
	case f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed:
		return "unknown pattern type"
	case f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens:
		return "unknown operation"
	case f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow:
		return "unknown permission type"
	}
	return ""
}
