package server

// The authorizer: ACL bindings (resource pattern, principal, host,
// operation, allow/deny) persisted in the data dir, and Kafka's
// AclAuthorizer decision rules.
//
// Enabled by the broker config authorizer.enable=true, or any
// authorizer.class.name (Kafka's way of turning ACLs on). Then:
//   - super.users (User:a;User:b) may do anything;
//   - a DENY binding matching the request wins over any ALLOW;
//   - otherwise an ALLOW binding must match, where READ, WRITE, DELETE
//     and ALTER imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, and
//     ALL matches every operation;
//   - with no binding at all for the resource, allow.everyone.if.no.acl.found
//     (default false) decides: default deny.
// A binding matches a resource when the types are equal and it is LITERAL
// with the same name or the name "*", or PREFIXED with a prefix of the
// name; its principal is the request's or User:*; its host is the
// client's IP or "*".

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclsFileName holds the ACL bindings:
//
//	{"version":1,"acls":[{"resource_type":"TOPIC","resource_name":"orders","pattern_type":"LITERAL",
//	  "principal":"User:alice","host":"*","operation":"READ","permission":"ALLOW"}]}
//
// written atomically, mode 0600, and read at start.
const aclsFileName = "acls.json"

// clusterResourceName is the only name of the CLUSTER resource.
const clusterResourceName = "kafka-cluster"

// Operations, resource types and pattern types, by their kmsg names.
const (
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite

	resTopic   = kmsg.ACLResourceTypeTopic
	resGroup   = kmsg.ACLResourceTypeGroup
	resCluster = kmsg.ACLResourceTypeCluster
	resTxnID   = kmsg.ACLResourceTypeTransactionalId
)

// aclBinding is one ACL.
type aclBinding struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

type aclsFile struct {
	Version int          `json:"version"`
	ACLs    []aclBinding `json:"acls"`
}

// authorizer decides requests. Safe for concurrent use.
type authorizer struct {
	enabled    bool
	superUsers []string
	allowEmpty bool // allow.everyone.if.no.acl.found
	path       string

	mu   sync.RWMutex // guards acls
	acls []aclBinding
}

func newAuthorizer(cfg *Config) (*authorizer, error) {
	a := &authorizer{
		enabled:    cfg.brokerBool("authorizer.enable") || cfg.brokerValue("authorizer.class.name") != "",
		allowEmpty: cfg.brokerBool("allow.everyone.if.no.acl.found"),
		path:       filepath.Join(cfg.DataDir, aclsFileName),
	}
	for _, u := range strings.Split(cfg.brokerValue("super.users"), ";") {
		if u = strings.TrimSpace(u); u != "" {
			a.superUsers = append(a.superUsers, u)
		}
	}
	var f aclsFile
	ok, err := readJSON(a.path, &f)
	if err != nil {
		return nil, err
	}
	if ok && f.Version != stateVersion {
		return nil, fmt.Errorf("%w: %s version %d", ErrStateFile, aclsFileName, f.Version)
	}
	a.acls = f.ACLs
	return a, nil
}

func validSuperUsers(v string) error {
	for _, u := range strings.Split(v, ";") {
		if u = strings.TrimSpace(u); u != "" && !strings.Contains(u, ":") {
			return fmt.Errorf("%q is not a principal (want User:name)", u)
		}
	}
	return nil
}

func anyString(string) error { return nil }

// resourceMatches reports whether binding b's pattern covers name.
func (b *aclBinding) resourceMatches(typ kmsg.ACLResourceType, name string) bool {
	if b.ResourceType != typ {
		return false
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return b.ResourceName == name || b.ResourceName == "*"
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}

// implies reports whether an ALLOW of have grants want.
func implies(have, want kmsg.ACLOperation) bool {
	if have == want || have == kmsg.ACLOperationAll {
		return true
	}
	switch want {
	case opDescribe:
		return have == opRead || have == opWrite || have == opDelete || have == opAlter
	case opDescribeConfigs:
		return have == opAlterConfigs
	}
	return false
}

// authorize decides whether principal from host may do op on the resource.
func (a *authorizer) authorize(principal, host string, typ kmsg.ACLResourceType, name string, op kmsg.ACLOperation) bool {
	if !a.enabled || slices.Contains(a.superUsers, principal) {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	allowed, any := false, false
	for i := range a.acls {
		b := &a.acls[i]
		if !b.resourceMatches(typ, name) {
			continue
		}
		any = true
		if (b.Principal != principal && b.Principal != "User:*") || (b.Host != "*" && b.Host != host) {
			continue
		}
		switch b.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if b.Operation == op || b.Operation == kmsg.ACLOperationAll {
				return false
			}
		case kmsg.ACLPermissionTypeAllow:
			if implies(b.Operation, op) {
				allowed = true
			}
		}
	}
	return allowed || (!any && a.allowEmpty)
}

// authorizeAny reports whether principal may do op on some resource of
// typ: an ALLOW for it exists and no DENY covers every name (a literal "*"
// or an empty prefix). Kafka's authorizeByResourceType, used for
// idempotent producers (WRITE on any topic).
func (a *authorizer) authorizeAny(principal, host string, typ kmsg.ACLResourceType, op kmsg.ACLOperation) bool {
	if !a.enabled || slices.Contains(a.superUsers, principal) {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	allowed := false
	for i := range a.acls {
		b := &a.acls[i]
		if b.ResourceType != typ || (b.Principal != principal && b.Principal != "User:*") || (b.Host != "*" && b.Host != host) {
			continue
		}
		if b.Permission == kmsg.ACLPermissionTypeDeny && (b.Operation == op || b.Operation == kmsg.ACLOperationAll) &&
			(b.ResourceName == "*" && b.PatternType == kmsg.ACLResourcePatternTypeLiteral ||
				b.ResourceName == "" && b.PatternType == kmsg.ACLResourcePatternTypePrefixed) {
			return false
		}
		if b.Permission == kmsg.ACLPermissionTypeAllow && implies(b.Operation, op) {
			allowed = true
		}
	}
	return allowed
}

// aclFilter selects bindings (DescribeAcls, DeleteAcls).
type aclFilter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// matches follows Kafka's AclBindingFilter: ANY matches every value;
// pattern MATCH selects the bindings that would apply to the named
// resource (literal same name, literal "*", prefixes of it).
func (f *aclFilter) matches(b *aclBinding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !b.resourceMatches(b.ResourceType, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != b.PatternType || (f.ResourceName != nil && *f.ResourceName != b.ResourceName) {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == b.Permission
}

// validate reports why b cannot be stored ("" when it can).
func (b *aclBinding) validate() string {
	switch b.ResourceType {
	case resTopic, resGroup, resTxnID:
		if b.ResourceName == "" {
			return "resource name must not be empty"
		}
	case resCluster:
		if b.ResourceName != clusterResourceName {
			return "the cluster resource is named " + clusterResourceName
		}
	default:
		return "resource type must be TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID"
	}
	if b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return "pattern type must be LITERAL or PREFIXED"
	}
	if typ, name, ok := strings.Cut(b.Principal, ":"); !ok || typ == "" || name == "" {
		return "principal must be TYPE:NAME, e.g. User:alice"
	}
	if b.Host == "" {
		return "host must not be empty (use *)"
	}
	switch b.Operation {
	case kmsg.ACLOperationUnknown, kmsg.ACLOperationAny:
		return "operation must be a concrete operation"
	}
	if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
		return "permission must be ALLOW or DENY"
	}
	return ""
}

// list returns the bindings f matches.
func (a *authorizer) list(f *aclFilter) []aclBinding {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []aclBinding
	for i := range a.acls {
		if f.matches(&a.acls[i]) {
			out = append(out, a.acls[i])
		}
	}
	return out
}

// add stores bindings (duplicates are kept once) and persists them.
func (a *authorizer) add(bs []aclBinding) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	next := slices.Clone(a.acls)
	for _, b := range bs {
		if !slices.Contains(next, b) {
			next = append(next, b)
		}
	}
	if err := a.saveLocked(next); err != nil {
		return err
	}
	a.acls = next
	return nil
}

// remove deletes the bindings each filter matches and returns them per
// filter.
func (a *authorizer) remove(fs []aclFilter) ([][]aclBinding, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]aclBinding, len(fs))
	var next []aclBinding
	for _, b := range a.acls {
		keep := true
		for i := range fs {
			if fs[i].matches(&b) {
				out[i] = append(out[i], b)
				keep = false
			}
		}
		if keep {
			next = append(next, b)
		}
	}
	if err := a.saveLocked(next); err != nil {
		return nil, err
	}
	a.acls = next
	return out, nil
}

func (a *authorizer) saveLocked(acls []aclBinding) error {
	if acls == nil {
		acls = []aclBinding{}
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(a.path), err)
	}
	return writeJSONPerm(a.path, aclsFile{Version: stateVersion, ACLs: acls}, 0o600)
}

// clientHost is the IP of the request's client, for host matching.
func (rc *reqContext) clientHost() string {
	if h, _, err := net.SplitHostPort(rc.remote); err == nil {
		return h
	}
	return rc.remote
}

// rcPrincipal is rc's principal; requests handled without a connection
// (tests, fuzzing) act as User:ANONYMOUS.
func (rc *reqContext) rcPrincipal() string {
	if rc == nil || rc.principal == "" {
		return anonymousPrincipal
	}
	return rc.principal
}

// authorize reports whether rc may do op on the resource, and counts a
// refusal.
func (s *Server) authorize(rc *reqContext, typ kmsg.ACLResourceType, name string, op kmsg.ACLOperation, api int16) bool {
	if s.authz == nil || !s.authz.enabled {
		return true
	}
	host := ""
	if rc != nil {
		host = rc.clientHost()
	}
	if s.authz.authorize(rc.rcPrincipal(), host, typ, name, op) {
		return true
	}
	s.metrics.authzDenied.WithLabelValues(apiName(api)).Inc()
	return false
}

// authorizeCluster is authorize on the cluster resource.
func (s *Server) authorizeCluster(rc *reqContext, op kmsg.ACLOperation, api int16) bool {
	return s.authorize(rc, resCluster, clusterResourceName, op, api)
}

// aclsEnabled reports whether requests are checked at all.
func (s *Server) aclsEnabled() bool { return s.authz != nil && s.authz.enabled }
