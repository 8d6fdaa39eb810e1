package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connectors"
)

func newPipelineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Work with pipeline files",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPipelineValidateCmd())
	return cmd
}

func newPipelineValidateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a pipeline file without connecting to anything",
		Long: `Check a pipeline file: its YAML, every field, the cross-field rules, the
${VAR} references (from the environment) and the *_file secrets. Nothing is
contacted. Exit 0 with a summary (secrets redacted), or exit 1 listing every
problem, one per line, as file:line:col: field.path: message.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &usageError{errors.New("--file (-f) is required")}
			}
			c, err := connectors.LoadConfig(file)
			if err != nil {
				problems := connectors.FieldErrors(err)
				if len(problems) == 0 {
					return err
				}
				w := cmd.ErrOrStderr()
				for _, p := range problems {
					if _, err := fmt.Fprintln(w, p); err != nil {
						return err
					}
				}
				return fmt.Errorf("%s: %d problem%s", file, len(problems), map[bool]string{true: "", false: "s"}[len(problems) == 1])
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n%s", file, c.Summary())
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "pipeline file (YAML)")
	return cmd
}
