package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/broker/server"
	"github.com/sluicehq/sluice/internal/admin"
)

func newUserCmd() *cobra.Command {
	var kf kafkaFlags
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, delete and list SASL/SCRAM users (Sluice broker or any Kafka)",
		Long: `Manages SCRAM-SHA-256/512 users through Kafka's AlterUserScramCredentials and
DescribeUserScramCredentials APIs, so it works against Apache Kafka too. The
broker stores only salted hashes; PLAIN logins are checked against them.
Passwords come from --password-file or $SLUICE_USER_PASSWORD, never the
command line. 'user create --data-dir DIR' writes the broker's credential file
directly, for the first user of a broker that requires SASL.`,
	}
	kf.register(cmd)
	cmd.AddCommand(newUserCreateCmd(&kf), newUserDeleteCmd(&kf), newUserListCmd(&kf))
	return cmd
}

func newUserCreateCmd(kf *kafkaFlags) *cobra.Command {
	var (
		mechanism, passwordFile, dataDir string
		iterations                       int32
	)
	cmd := &cobra.Command{
		Use:   "create NAME [--mechanism SCRAM-SHA-256|SCRAM-SHA-512] [--iterations N] [--password-file FILE]",
		Short: "Create a user or replace its password for one mechanism",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := userPassword(passwordFile)
			if err != nil {
				return err
			}
			mechanism = strings.ToUpper(mechanism)
			if dataDir != "" {
				if err := server.SetUserPassword(dataDir, args[0], mechanism, pw, int(iterations)); err != nil {
					return err
				}
			} else if err := withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				return a.SetUser(ctx, args[0], mechanism, pw, iterations)
			}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Set %s credential for user %s.\n", mechanism, args[0])
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&mechanism, "mechanism", "SCRAM-SHA-256", "SCRAM-SHA-256 or SCRAM-SHA-512")
	f.Int32Var(&iterations, "iterations", 4096, "PBKDF2 iterations (4096..16384)")
	f.StringVar(&passwordFile, "password-file", "", "file holding the password (else $SLUICE_USER_PASSWORD)")
	f.StringVar(&dataDir, "data-dir", "", "write the broker's credential file in DIR directly instead of using the Kafka API")
	return cmd
}

// userPassword reads the new user's password from a file or the
// environment; it is never a flag value, so it stays out of `ps`.
func userPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading --password-file: %w", err)
		}
		if pw := strings.TrimRight(string(b), "\r\n"); pw != "" {
			return pw, nil
		}
		return "", &usageError{fmt.Errorf("--password-file %s is empty", file)}
	}
	if pw := os.Getenv("SLUICE_USER_PASSWORD"); pw != "" {
		return pw, nil
	}
	return "", &usageError{fmt.Errorf("no password: use --password-file or set $SLUICE_USER_PASSWORD")}
}

func newUserDeleteCmd(kf *kafkaFlags) *cobra.Command {
	var (
		mechanisms []string
		dataDir    string
	)
	cmd := &cobra.Command{
		Use:   "delete NAME [--mechanism M]...",
		Short: "Delete a user's credentials (all mechanisms unless --mechanism)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir != "" {
				if err := server.DeleteUser(dataDir, args[0]); err != nil {
					return err
				}
			} else if err := withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				for i := range mechanisms {
					mechanisms[i] = strings.ToUpper(mechanisms[i])
				}
				return a.DeleteUser(ctx, args[0], mechanisms...)
			}); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "Deleted user %s.\n", args[0])
			return err
		},
	}
	cmd.Flags().StringArrayVar(&mechanisms, "mechanism", nil, "delete only this mechanism's credential (repeatable)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "edit the broker's credential file in DIR directly")
	return cmd
}

func newUserListCmd(kf *kafkaFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users with their SCRAM mechanisms and iterations",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, kf, func(ctx context.Context, a *admin.Admin) error {
				us, err := a.ListUsers(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "USER\tMECHANISM\tITERATIONS")
				for _, u := range us {
					for _, c := range u.Credentials {
						fmt.Fprintf(w, "%s\t%s\t%d\n", u.Name, c.Mechanism, c.Iterations)
					}
				}
				return w.Flush()
			})
		},
	}
}
