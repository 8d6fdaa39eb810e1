package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks a command-line mistake (unknown flag or command, bad flag
// value); it maps to exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// globalFlags are the flags every subcommand inherits.
type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCmd() *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Change data capture: Kafka-compatible broker, Postgres/MySQL sources, Elasticsearch/Redis sinks",
		Long: `Sluice is one binary that captures row changes from Postgres and MySQL/MariaDB,
stores them in a Kafka-protocol log broker, and keeps Elasticsearch indexes and
Redis caches in step with them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without subcommand arguments cobra prints help; an unknown word is a
		// usage error rather than silently showing help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.logger(io.Discard); err != nil {
				return &usageError{err}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug|info|warn|error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text|json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err}
	})

	root.AddCommand(newVersionCmd())
	root.AddCommand(newTopicCmd(), newGroupCmd(), newBenchCmd(), newBrokerCmd(&g))
	root.AddCommand(newRunCmd(&g), newStatusCmd(), newSinkCmd())
	root.AddCommand(newPipelineCmd())
	root.AddCommand(newUserCmd(), newACLCmd())
	return root
}

// logger builds the process logger writing to w from the global flags.
func (g *globalFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(g.logLevel) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
}
