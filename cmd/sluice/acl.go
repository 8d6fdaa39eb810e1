package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/admin"
)

func newACLCmd() *cobra.Command {
	var kf kafkaFlags
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, remove and list ACLs (Sluice broker or any Kafka)",
		Long: `Manages ACLs through Kafka's CreateAcls, DeleteAcls and DescribeAcls APIs, so it
works against Apache Kafka too. The Sluice broker enforces them when started
with --config authorizer.enable=true: everything not allowed is denied, a
matching --deny wins over any allow, and super.users bypass ACLs.

Examples:
  sluice acl add --principal User:alice --operation read --topic orders
  sluice acl add --principal User:alice --operation write --topic orders- --pattern prefixed
  sluice acl add --principal User:alice --operation read --group billing
  sluice acl add --principal User:ops --operation all --cluster
  sluice acl add --principal User:bob --operation read --topic secret --deny
  sluice acl remove --principal User:alice --topic orders
  sluice acl list [--principal User:alice] [--topic T]`,
	}
	kf.register(cmd)
	cmd.AddCommand(newACLAddCmd(&kf), newACLRemoveCmd(&kf), newACLListCmd(&kf))
	return cmd
}

// aclFlags are the flags naming an ACL or an ACL filter.
type aclFlags struct {
	principal, host, topic, group, txnID, pattern string
	operations                                    []string
	cluster, deny                                 bool
}

func (a *aclFlags) register(cmd *cobra.Command, create bool) {
	f := cmd.Flags()
	f.StringVar(&a.principal, "principal", "", "principal, e.g. User:alice (User:* is every user)")
	f.StringVar(&a.host, "host", "", "client IP the ACL applies to (default: * when adding, any when filtering)")
	f.StringVar(&a.topic, "topic", "", "topic name (or prefix with --pattern prefixed)")
	f.StringVar(&a.group, "group", "", "consumer group name (or prefix)")
	f.StringVar(&a.txnID, "transactional-id", "", "transactional id (or prefix)")
	f.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	op := "operation: read, write, create, delete, describe, alter, describe-configs, alter-configs, idempotent-write, all (repeatable)"
	if !create {
		op += "; default any"
	}
	f.StringArrayVar(&a.operations, "operation", nil, op)
	pat := "resource pattern: literal or prefixed"
	if !create {
		pat += " (or match: every ACL applying to the named resource); default any"
	}
	f.StringVar(&a.pattern, "pattern", "", pat)
	f.BoolVar(&a.deny, "deny", false, "a DENY ACL (default ALLOW); when filtering, only DENY ACLs")
}

// acls returns one ACL (or filter) per operation.
func (a *aclFlags) acls(create bool) ([]admin.ACL, error) {
	base := admin.ACL{Principal: a.principal, Host: a.host, Pattern: a.pattern, Deny: a.deny}
	n := 0
	for _, r := range []struct {
		set        bool
		typ, value string
	}{{a.topic != "", "topic", a.topic}, {a.group != "", "group", a.group}, {a.txnID != "", "transactional-id", a.txnID}, {a.cluster, "cluster", ""}} {
		if r.set {
			n++
			base.ResourceType, base.Resource = r.typ, r.value
		}
	}
	if n > 1 {
		return nil, &usageError{fmt.Errorf("give one of --topic, --group, --transactional-id, --cluster")}
	}
	if create && (n == 0 || a.principal == "" || len(a.operations) == 0) {
		return nil, &usageError{fmt.Errorf("--principal, --operation and one of --topic, --group, --transactional-id, --cluster are required")}
	}
	ops := a.operations
	if len(ops) == 0 {
		ops = []string{""}
	}
	out := make([]admin.ACL, 0, len(ops))
	for _, op := range ops {
		acl := base
		acl.Operation = op
		out = append(out, acl)
	}
	return out, nil
}

func newACLAddCmd(kf *kafkaFlags) *cobra.Command {
	var af aclFlags
	cmd := &cobra.Command{
		Use:   "add --principal P --operation OP (--topic T | --group G | --transactional-id X | --cluster) [--pattern prefixed] [--deny] [--host H]",
		Short: "Add ACLs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			acls, err := af.acls(true)
			if err != nil {
				return err
			}
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				for _, acl := range acls {
					if err := a.AddACL(ctx, acl); err != nil {
						return err
					}
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Added %d ACL(s).\n", len(acls))
				return err
			})
		},
	}
	af.register(cmd, true)
	return cmd
}

func newACLRemoveCmd(kf *kafkaFlags) *cobra.Command {
	var af aclFlags
	cmd := &cobra.Command{
		Use:   "remove [--principal P] [--operation OP] [--topic T | --group G | --transactional-id X | --cluster] [--pattern P] [--deny]",
		Short: "Remove the ACLs matching the filter",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := af.acls(false)
			if err != nil {
				return err
			}
			if af.principal == "" && filters[0].ResourceType == "" {
				return &usageError{fmt.Errorf("give --principal or a resource: removing every ACL needs both left out on purpose")}
			}
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				var removed []admin.ACL
				for _, f := range filters {
					got, err := a.RemoveACLs(ctx, admin.ACLFilter(f))
					if err != nil {
						return err
					}
					removed = append(removed, got...)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed %d ACL(s).\n", len(removed))
				return printACLs(cmd.OutOrStdout(), removed)
			})
		},
	}
	af.register(cmd, false)
	return cmd
}

func newACLListCmd(kf *kafkaFlags) *cobra.Command {
	var af aclFlags
	cmd := &cobra.Command{
		Use:   "list [--principal P] [--operation OP] [--topic T | --group G | --transactional-id X | --cluster] [--pattern P] [--deny]",
		Short: "List ACLs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := af.acls(false)
			if err != nil {
				return err
			}
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				var all []admin.ACL
				for _, f := range filters {
					got, err := a.ListACLs(ctx, admin.ACLFilter(f))
					if err != nil {
						return err
					}
					all = append(all, got...)
				}
				return printACLs(cmd.OutOrStdout(), all)
			})
		},
	}
	af.register(cmd, false)
	return cmd
}

func printACLs(out io.Writer, acls []admin.ACL) error {
	if len(acls) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PRINCIPAL\tPERMISSION\tOPERATION\tRESOURCE-TYPE\tRESOURCE\tPATTERN\tHOST")
	for _, a := range acls {
		perm := "allow"
		if a.Deny {
			perm = "deny"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Principal, perm, a.Operation, a.ResourceType, a.Resource, a.Pattern, a.Host)
	}
	return w.Flush()
}
