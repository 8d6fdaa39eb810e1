package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/admin"
)

func newGroupCmd() *cobra.Command {
	var kf kafkaFlags
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, delete consumer groups and reset their offsets (Sluice broker or any Kafka)",
	}
	kf.register(cmd)
	cmd.AddCommand(newGroupListCmd(&kf), newGroupDescribeCmd(&kf), newGroupDeleteCmd(&kf), newGroupResetCmd(&kf))
	return cmd
}

func newGroupListCmd(kf *kafkaFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				gs, err := a.ListGroups(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL-TYPE")
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%s\t%s\n", g.Name, g.State, g.ProtocolType)
				}
				return w.Flush()
			})
		},
	}
}

func newGroupDescribeCmd(kf *kafkaFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				for _, name := range args {
					g, err := a.DescribeGroup(ctx, name)
					if err != nil {
						return err
					}
					fmt.Fprintf(w, "Group %s is %s (%d members, protocol %s/%s)\n",
						g.Name, g.State, len(g.Members), g.ProtocolType, g.Protocol)
					fmt.Fprintln(w, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID")
					for _, o := range g.Offsets {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", g.Name, o.Topic, o.Partition,
							orDash(o.Committed), orDash(o.End), orDash(o.Lag), dashIfEmpty(o.MemberID))
					}
					if len(g.Members) > 0 {
						fmt.Fprintln(w, "\nCONSUMER-ID\tINSTANCE-ID\tHOST\tCLIENT-ID\tASSIGNMENT")
						for _, m := range g.Members {
							var as []string
							for t, ps := range m.Assigned {
								as = append(as, t+":"+ints(ps))
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.ID, dashIfEmpty(m.InstanceID), m.Host, m.ClientID, strings.Join(as, " "))
						}
					}
					fmt.Fprintln(w)
				}
				return w.Flush()
			})
		},
	}
}

func orDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDeleteCmd(kf *kafkaFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups and their committed offsets (groups must be empty)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				if err := a.DeleteGroups(ctx, args...); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Deleted group %s.\n", strings.Join(args, ", "))
				return err
			})
		},
	}
}

func newGroupResetCmd(kf *kafkaFlags) *cobra.Command {
	var (
		group             string
		topics            []string
		earliest, latest  bool
		toOffset, shiftBy int64
		datetime          string
		dryRun, execute   bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets --group G --topic T[:P,...] (--to-earliest|--to-latest|--to-offset N|--to-datetime RFC3339|--shift-by N) [--dry-run|--execute]",
		Short: "Plan, or with --execute commit, new offsets for an inactive group",
		Long: `Computes new committed offsets for a group, as kafka-consumer-groups does.
Without --execute (or with --dry-run) it prints the plan and changes nothing.
Targets are clamped to each partition's [log start, end]. It refuses while the
group has members: stop its consumers first.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if group == "" {
				return &usageError{fmt.Errorf("--group is required")}
			}
			if len(topics) == 0 {
				return &usageError{fmt.Errorf("--topic is required")}
			}
			if dryRun && execute {
				return &usageError{fmt.Errorf("--dry-run and --execute exclude each other")}
			}
			spec := admin.ResetSpec{Group: group}
			for _, t := range topics {
				tp, err := admin.ParseTopicPartitions(t)
				if err != nil {
					return &usageError{fmt.Errorf("--topic: %w", err)}
				}
				spec.Topics = append(spec.Topics, tp)
			}
			fl := cmd.Flags()
			spec.To.Earliest, spec.To.Latest = earliest, latest
			if fl.Changed("to-offset") {
				spec.To.Offset = &toOffset
			}
			if fl.Changed("shift-by") {
				spec.To.ShiftBy = &shiftBy
			}
			if fl.Changed("to-datetime") {
				ts, err := time.Parse(time.RFC3339, datetime)
				if err != nil {
					return &usageError{fmt.Errorf("--to-datetime %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", datetime)}
				}
				spec.To.Datetime = &ts
			}
			n := 0
			for _, f := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime", "shift-by"} {
				if fl.Changed(f) {
					n++
				}
			}
			if n != 1 {
				return &usageError{fmt.Errorf("exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by is required")}
			}
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				plan, err := a.PlanReset(ctx, spec)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
				for _, e := range plan.Entries {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\n", plan.Group, e.Topic, e.Partition, orDash(e.Current), e.New)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				if !execute {
					_, err := fmt.Fprintln(cmd.OutOrStdout(), "Dry run: nothing changed. Add --execute to commit these offsets.")
					return err
				}
				if err := a.ExecuteReset(ctx, plan); err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Committed new offsets for group %s.\n", plan.Group)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "consumer group")
	f.StringArrayVar(&topics, "topic", nil, "topic, or topic:partition,partition (repeatable)")
	f.BoolVar(&earliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&latest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&toOffset, "to-offset", 0, "reset to this offset")
	f.StringVar(&datetime, "to-datetime", "", "reset to the first offset at or after this RFC 3339 time")
	f.Int64Var(&shiftBy, "shift-by", 0, "move the committed offset by N (may be negative)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan only (the default)")
	f.BoolVar(&execute, "execute", false, "commit the planned offsets")
	return cmd
}
