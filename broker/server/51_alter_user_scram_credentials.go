// AlterUserScramCredentials (51) v0.
//
// Upserts and deletes SCRAM credentials. An upsertion carries the salt,
// the iteration count and the salted password (the client derived it);
// the broker keeps only StoredKey and ServerKey derived from it. Errors
// per user, as Kafka: an unknown mechanism UNSUPPORTED_SASL_MECHANISM;
// iterations outside 4096..16384, an empty name or salt, or a salted
// password of the wrong length UNACCEPTABLE_CREDENTIAL; deleting a missing
// credential RESOURCE_NOT_FOUND; a user named twice in one request
// (same mechanism) DUPLICATE_RESOURCE. The accepted changes are persisted
// together. Needs ALTER on the cluster when ACLs are on.

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleAlterUserSCRAMCredentials(rc *reqContext, r *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type result struct {
		code int16
		msg  string
	}
	results := map[string]*result{}
	var order []string
	fail := func(user string, e *kerr.Error, msg string) {
		if results[user] == nil {
			results[user] = &result{}
			order = append(order, user)
		}
		if results[user].code == 0 {
			results[user].code, results[user].msg = e.Code, msg
		}
	}
	note := func(user string) {
		if results[user] == nil {
			results[user] = &result{}
			order = append(order, user)
		}
	}
	authorized := s.authorizeCluster(rc, opAlter, r.Key())
	type key struct {
		user string
		mech int8
	}
	count := map[key]int{}
	for _, d := range r.Deletions {
		count[key{d.Name, d.Mechanism}]++
	}
	for _, u := range r.Upsertions {
		count[key{u.Name, u.Mechanism}]++
	}
	existing, err := s.creds.list()
	if err != nil {
		s.log.Error("reading SCRAM credentials", "err", err)
	}
	has := map[key]bool{}
	for _, u := range existing {
		for name := range u.mechs {
			m, _ := scramMechByName(name)
			has[key{u.name, m.code}] = true
		}
	}
	var changes []credChange
	check := func(name string, code int8) (scramMech, bool) {
		note(name)
		switch m, ok := scramMechByCode(code); {
		case !authorized:
			fail(name, kerr.ClusterAuthorizationFailed, "")
		case err != nil:
			fail(name, kerr.UnknownServerError, "credential store unavailable")
		case name == "":
			fail(name, kerr.UnacceptableCredential, "Username must not be empty")
		case !ok:
			fail(name, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		case count[key{name, code}] > 1:
			fail(name, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		default:
			return m, true
		}
		return scramMech{}, false
	}
	for _, d := range r.Deletions {
		m, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		if !has[key{d.Name, d.Mechanism}] {
			fail(d.Name, kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
			continue
		}
		changes = append(changes, credChange{user: d.Name, mechanism: m.name})
	}
	for _, u := range r.Upsertions {
		m, ok := check(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		switch {
		case u.Iterations < scramMinIterations || u.Iterations > scramMaxIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Iterations must be between 4096 and 16384")
			continue
		case len(u.Salt) == 0 || len(u.SaltedPassword) != m.size:
			fail(u.Name, kerr.UnacceptableCredential, "Salt must not be empty and the salted password must be the mechanism's hash size")
			continue
		}
		stored, server := m.keys(u.SaltedPassword)
		cred := scramCredential{Salt: append([]byte(nil), u.Salt...), Iterations: int(u.Iterations), StoredKey: stored, ServerKey: server}
		changes = append(changes, credChange{user: u.Name, mechanism: m.name, cred: &cred})
	}
	// A user with any failure gets none of its changes applied.
	var apply []credChange
	for _, c := range changes {
		if results[c.user].code == 0 {
			apply = append(apply, c)
		}
	}
	if len(apply) > 0 {
		if err := s.creds.apply(apply); err != nil {
			s.log.Error("writing SCRAM credentials", "err", err)
			for _, c := range apply {
				fail(c.user, kerr.UnknownServerError, "writing credentials failed")
			}
		} else {
			s.log.Info("SCRAM credentials altered", "changes", len(apply))
		}
	}
	for _, u := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = u, results[u].code
		if results[u].msg != "" {
			msg := results[u].msg
			res.ErrorMessage = &msg
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
