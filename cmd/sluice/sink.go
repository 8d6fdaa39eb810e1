package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connectors"
)

func newSinkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Act on the sinks of the running `sluice run`",
	}
	cmd.AddCommand(newSinkRebuildCmd())
	return cmd
}

func newSinkRebuildCmd() *cobra.Command {
	var addr, pipeline, sink string
	cmd := &cobra.Command{
		Use:   "rebuild --pipeline P --sink S",
		Short: "Rebuild a sink's target by replaying its topics from the earliest offsets (live records keep flowing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pipeline == "" || sink == "" {
				return &usageError{fmt.Errorf("--pipeline and --sink are required")}
			}
			if err := adminCall(cmd.Context(), http.MethodPost, addr, connectors.RebuildPath(pipeline, sink), http.StatusAccepted, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rebuild of %s/%s started; follow it with `sluice status --admin %s`\n", pipeline, sink, addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "admin", defaultAdmin, "admin `HOST:PORT` of the running sluice run")
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "pipeline name")
	cmd.Flags().StringVar(&sink, "sink", "", "sink name in the pipeline")
	return cmd
}
