package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL is one access control binding, in CLI terms.
type ACL struct {
	Principal    string // User:alice, User:* (any user)
	Host         string // client IP, * for any
	ResourceType string // topic, group, cluster, transactional-id
	Resource     string // name; kafka-cluster for the cluster
	Pattern      string // literal or prefixed
	Operation    string // read, write, create, delete, describe, alter, describe-configs, alter-configs, idempotent-write, all
	Deny         bool   // a DENY binding (default ALLOW)
}

// ACLFilter selects ACLs; empty fields match anything. Pattern may also
// be "match": every binding that applies to the named resource.
type ACLFilter ACL

// ErrBadACL reports an ACL or filter the CLI cannot express.
var ErrBadACL = errors.New("admin: invalid ACL")

func parseOperation(s string) (kadm.ACLOperation, error) {
	if s == "" {
		return kadm.OpAny, nil
	}
	op, err := kmsg.ParseACLOperation(strings.ReplaceAll(strings.ToLower(s), "-", "_"))
	if err != nil || op == kmsg.ACLOperationUnknown {
		return 0, fmt.Errorf("%w: operation %q", ErrBadACL, s)
	}
	return op, nil
}

func parsePattern(s string) (kadm.ACLPattern, error) {
	switch strings.ToLower(s) {
	case "":
		return kadm.ACLPatternAny, nil
	case "literal":
		return kadm.ACLPatternLiteral, nil
	case "prefixed":
		return kadm.ACLPatternPrefixed, nil
	case "match":
		return kadm.ACLPatternMatch, nil
	case "any":
		return kadm.ACLPatternAny, nil
	}
	return 0, fmt.Errorf("%w: pattern %q: want literal or prefixed", ErrBadACL, s)
}

// builder turns an ACL or filter into kadm's builder. forCreate requires
// every field.
func (f ACLFilter) builder(forCreate bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	switch strings.ToLower(f.ResourceType) {
	case "topic":
		b.Topics(f.Resource)
	case "group":
		b.Groups(f.Resource)
	case "cluster":
		b.Clusters()
	case "transactional-id", "transactional_id":
		b.TransactionalIDs(f.Resource)
	case "":
		if forCreate {
			return nil, fmt.Errorf("%w: a resource (topic, group, cluster) is required", ErrBadACL)
		}
		b.AnyResource()
	default:
		return nil, fmt.Errorf("%w: resource type %q", ErrBadACL, f.ResourceType)
	}
	op, err := parseOperation(f.Operation)
	if err != nil {
		return nil, err
	}
	pat, err := parsePattern(f.Pattern)
	if err != nil {
		return nil, err
	}
	if forCreate {
		if op == kadm.OpAny || f.Principal == "" {
			return nil, fmt.Errorf("%w: principal and operation are required", ErrBadACL)
		}
		if pat == kadm.ACLPatternAny {
			pat = kadm.ACLPatternLiteral
		}
		if pat == kadm.ACLPatternMatch {
			return nil, fmt.Errorf("%w: pattern must be literal or prefixed", ErrBadACL)
		}
	}
	b.Operations(op).ResourcePatternType(pat)
	var principals, hosts []string
	if f.Principal != "" {
		principals = []string{f.Principal}
	}
	if f.Host != "" {
		hosts = []string{f.Host}
	} else if forCreate {
		hosts = []string{"*"}
	}
	switch {
	case forCreate && f.Deny:
		b.Deny(principals...).DenyHosts(hosts...)
	case forCreate:
		b.Allow(principals...).AllowHosts(hosts...)
	case f.Deny:
		b.Deny(principals...).DenyHosts(hosts...)
	default: // filters without --deny match both permissions
		b.Allow(principals...).AllowHosts(hosts...).Deny(principals...).DenyHosts(hosts...)
	}
	return b, nil
}

// AddACL creates one ACL (CreateAcls).
func (a *Admin) AddACL(ctx context.Context, acl ACL) error {
	b, err := ACLFilter(acl).builder(true)
	if err != nil {
		return err
	}
	res, err := a.ac.CreateACLs(ctx, b)
	if err != nil {
		return fmt.Errorf("creating ACL: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("creating ACL: %w%s", r.Err, detail(r.ErrMessage))
		}
	}
	return nil
}

func fromDescribed(d kadm.DescribedACL) ACL {
	rt := strings.ToLower(strings.ReplaceAll(d.Type.String(), "_", "-"))
	if d.Type == kmsg.ACLResourceTypeTransactionalId {
		rt = "transactional-id"
	}
	return ACL{
		Principal: d.Principal, Host: d.Host, ResourceType: rt, Resource: d.Name,
		Pattern: strings.ToLower(d.Pattern.String()), Operation: strings.ToLower(strings.ReplaceAll(d.Operation.String(), "_", "-")),
		Deny: d.Permission == kmsg.ACLPermissionTypeDeny,
	}
}

func sortACLs(out []ACL) {
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.ResourceType != y.ResourceType {
			return x.ResourceType < y.ResourceType
		}
		if x.Resource != y.Resource {
			return x.Resource < y.Resource
		}
		if x.Principal != y.Principal {
			return x.Principal < y.Principal
		}
		return x.Operation < y.Operation
	})
}

// ListACLs lists the ACLs f matches (DescribeAcls).
func (a *Admin) ListACLs(ctx context.Context, f ACLFilter) ([]ACL, error) {
	b, err := f.builder(false)
	if err != nil {
		return nil, err
	}
	res, err := a.ac.DescribeACLs(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("listing ACLs: %w", err)
	}
	seen := map[ACL]bool{}
	var out []ACL
	for _, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("listing ACLs: %w%s", r.Err, detail(r.ErrMessage))
		}
		for _, d := range r.Described {
			if acl := fromDescribed(d); !seen[acl] {
				seen[acl] = true
				out = append(out, acl)
			}
		}
	}
	sortACLs(out)
	return out, nil
}

// RemoveACLs deletes the ACLs f matches (DeleteAcls) and returns them.
func (a *Admin) RemoveACLs(ctx context.Context, f ACLFilter) ([]ACL, error) {
	b, err := f.builder(false)
	if err != nil {
		return nil, err
	}
	res, err := a.ac.DeleteACLs(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("removing ACLs: %w", err)
	}
	var out []ACL
	for _, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("removing ACLs: %w%s", r.Err, detail(r.ErrMessage))
		}
		for _, d := range r.Deleted {
			out = append(out, fromDescribed(kadm.DescribedACL{Principal: d.Principal, Host: d.Host, Type: d.Type,
				Name: d.Name, Pattern: d.Pattern, Operation: d.Operation, Permission: d.Permission}))
		}
	}
	sortACLs(out)
	return out, nil
}
