// DescribeUserScramCredentials (50) v0.
//
// Lists users with their SCRAM mechanisms and iteration counts (never a
// salt or key). Users null or empty: every user. A named user without
// credentials gets RESOURCE_NOT_FOUND; a name given twice
// DUPLICATE_RESOURCE. Needs DESCRIBE on the cluster when ACLs are on.

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeUserSCRAMCredentials(rc *reqContext, r *kmsg.DescribeUserSCRAMCredentialsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !s.authorizeCluster(rc, opDescribe, r.Key()) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	users, err := s.creds.list()
	if err != nil {
		s.log.Error("reading SCRAM credentials", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp
	}
	byName := map[string]userMechs{}
	for _, u := range users {
		byName[u.name] = u
	}
	result := func(u userMechs) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u.name
		for _, m := range scramMechs {
			if it, ok := u.mechs[m.name]; ok {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = m.code, int32(it)
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		return res
	}
	if len(r.Users) == 0 {
		for _, u := range users {
			resp.Results = append(resp.Results, result(u))
		}
		return resp
	}
	seen := map[string]int{}
	for _, u := range r.Users {
		seen[u.Name]++
	}
	for _, ru := range r.Users {
		if seen[ru.Name] == 0 {
			continue // duplicate already answered
		}
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = ru.Name
		switch u, ok := byName[ru.Name]; {
		case seen[ru.Name] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			msg := "Cannot describe SCRAM credentials for the same user twice in a single request: " + ru.Name
			res.ErrorMessage = &msg
		case !ok:
			res.ErrorCode = kerr.ResourceNotFound.Code
			msg := "Attempt to describe a user credential that does not exist: " + ru.Name
			res.ErrorMessage = &msg
		default:
			res = result(u)
		}
		seen[ru.Name] = 0
		resp.Results = append(resp.Results, res)
	}
	return resp
}
