package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// kafkaFlags are the connection flags every admin command takes; they work
// against the Sluice broker and any Kafka-compatible cluster.
type kafkaFlags struct {
	bootstrap    string
	tls          kafkaclient.TLS
	sasl         kafkaclient.SASL
	passwordFile string
}

func (f *kafkaFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.bootstrap, "bootstrap", "127.0.0.1:9092", "bootstrap brokers, HOST:PORT[,...]")
	fs.StringVar(&f.bootstrap, "bootstrap-server", "127.0.0.1:9092", "alias of --bootstrap")
	fs.BoolVar(&f.tls.Enable, "tls", false, "connect with TLS")
	fs.StringVar(&f.tls.CAFile, "tls-ca", "", "PEM file of CAs to trust (implies --tls)")
	fs.StringVar(&f.tls.CertFile, "tls-cert", "", "client certificate PEM file")
	fs.StringVar(&f.tls.KeyFile, "tls-key", "", "client key PEM file")
	fs.StringVar(&f.tls.ServerName, "tls-server-name", "", "name to verify in the broker certificate")
	fs.BoolVar(&f.tls.InsecureSkipVerify, "tls-insecure-skip-verify", false, "do not verify the broker certificate (tests only)")
	fs.StringVar(&f.sasl.Mechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&f.sasl.Username, "sasl-username", "", "SASL user")
	fs.StringVar(&f.passwordFile, "sasl-password-file", "", "file holding the SASL password (else $SLUICE_SASL_PASSWORD)")
}

// config resolves the flags; the password comes from a file or the
// environment, never from the command line, so it stays out of `ps`.
func (f *kafkaFlags) config() (kafkaclient.Config, error) {
	c := kafkaclient.Config{TLS: f.tls, SASL: f.sasl, ClientID: "sluice-admin"}
	for _, b := range strings.Split(f.bootstrap, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if len(c.Brokers) == 0 {
		return c, &usageError{fmt.Errorf("--bootstrap: no broker given")}
	}
	if c.SASL.Mechanism != "" {
		c.SASL.Password = os.Getenv("SLUICE_SASL_PASSWORD")
		if f.passwordFile != "" {
			b, err := os.ReadFile(f.passwordFile)
			if err != nil {
				return c, fmt.Errorf("reading --sasl-password-file: %w", err)
			}
			c.SASL.Password = strings.TrimRight(string(b), "\r\n")
		}
	}
	return c, nil
}

func (f *kafkaFlags) admin() (*admin.Admin, error) {
	c, err := f.config()
	if err != nil {
		return nil, err
	}
	return admin.New(c)
}
