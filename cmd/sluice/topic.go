package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

func newTopicCmd() *cobra.Command {
	var kf kafkaFlags
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics (Sluice broker or any Kafka)",
	}
	kf.register(cmd)
	cmd.AddCommand(newTopicCreateCmd(&kf), newTopicListCmd(&kf), newTopicDescribeCmd(&kf),
		newTopicAlterCmd(&kf), newTopicDeleteCmd(&kf))
	return cmd
}

// withAdmin runs fn with an admin client and a bounded context.
func withAdmin(cmd *cobra.Command, kf *kafkaFlags, fn func(ctx context.Context, a *admin.Admin) error) error {
	a, err := kf.admin()
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), kafkaclient.DefaultRequestTimeout)
	defer cancel()
	return fn(ctx, a)
}

// parseConfigs parses repeated k=v flags.
func parseConfigs(kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, &usageError{fmt.Errorf("--config %q: want key=value", kv)}
		}
		out[k] = v
	}
	return out, nil
}

func newTopicCreateCmd(kf *kafkaFlags) *cobra.Command {
	var (
		partitions int32
		rf         int16
		configs    []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				if err := a.CreateTopic(ctx, admin.TopicSpec{Name: args[0], Partitions: partitions, ReplicationFactor: rf, Configs: cfg}); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Created topic %s.\n", args[0])
				return err
			})
		},
	}
	cmd.Flags().Int32Var(&partitions, "partitions", -1, "number of partitions (default: the broker's)")
	cmd.Flags().Int16Var(&rf, "replication-factor", -1, "replicas per partition (default: the broker's)")
	cmd.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	return cmd
}

func newTopicListCmd(kf *kafkaFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				ts, err := a.ListTopics(ctx, internal)
				if err != nil {
					return err
				}
				for _, t := range ts {
					if _, err := fmt.Fprintln(cmd.OutOrStdout(), t.Name); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return cmd
}

func newTopicDescribeCmd(kf *kafkaFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME...",
		Short: "Describe topics: partitions, leaders, replicas, offsets, configs",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				ts, err := a.DescribeTopics(ctx, args...)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				for _, t := range ts {
					var cfg []string
					for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
						cfg = append(cfg, k+"="+t.Configs[k])
					}
					fmt.Fprintf(out, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tConfigs: %s\n",
						t.Name, t.ID, len(t.Partitions), strings.Join(cfg, ","))
					w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					for _, p := range t.Partitions {
						fmt.Fprintf(w, "  Partition: %d\tLeader: %d\tReplicas: %s\tIsr: %s\tStart: %d\tEnd: %d\n",
							p.ID, p.Leader, ints(p.Replicas), ints(p.ISR), p.Start, p.End)
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func ints(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func newTopicAlterCmd(kf *kafkaFlags) *cobra.Command {
	var (
		configs, deletes []string
		partitions       int
	)
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Change a topic's configs or grow its partition count",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			if len(set) == 0 && len(deletes) == 0 && partitions == 0 {
				return &usageError{fmt.Errorf("alter %s: nothing to change (use --config, --delete-config or --partitions)", args[0])}
			}
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				if err := a.AlterTopic(ctx, args[0], admin.TopicChange{Set: set, Delete: deletes, Partitions: partitions}); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Altered topic %s.\n", args[0])
				return err
			})
		},
	}
	cmd.Flags().StringArrayVar(&configs, "config", nil, "set topic config key=value (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete-config", nil, "reset a topic config to the broker default (repeatable)")
	cmd.Flags().IntVar(&partitions, "partitions", 0, "new total partition count (can only grow)")
	return cmd
}

func newTopicDeleteCmd(kf *kafkaFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				if err := a.DeleteTopics(ctx, args...); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s.\n", strings.Join(args, ", "))
				return err
			})
		},
	}
}

// exactArgs and minArgs are cobra's validators with usage errors (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
