package kafkaclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TLS configures TLS to the brokers. The zero value means plaintext.
type TLS struct {
	Enable             bool   // use TLS even without any file (system roots)
	CAFile             string // PEM roots to trust instead of the system's
	CertFile, KeyFile  string // client certificate, for brokers that require one
	ServerName         string // overrides the name checked in the broker's certificate
	InsecureSkipVerify bool   // accept any certificate: tests only
}

// Enabled reports whether any TLS setting asks for TLS.
func (t TLS) Enabled() bool {
	return t.Enable || t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify
}

// SASL configures SASL authentication. An empty Mechanism means none.
type SASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string
	Password  string // never printed
}

// Config is how to reach a Kafka-compatible cluster.
type Config struct {
	Brokers  []string
	TLS      TLS
	SASL     SASL
	ClientID string
}

// String describes c without its secrets.
func (c Config) String() string {
	s := "brokers=" + strings.Join(c.Brokers, ",")
	if c.TLS.Enabled() {
		s += " tls=on"
	}
	if c.SASL.Mechanism != "" {
		s += " sasl=" + c.SASL.Mechanism + " user=" + c.SASL.Username + " password=***"
	}
	return s
}

// Opts returns franz-go options reaching the cluster c describes. Further
// options (producer, consumer settings) are appended by the caller.
func (c Config) Opts() ([]kgo.Opt, error) {
	if len(c.Brokers) == 0 {
		return nil, errors.New("kafkaclient: no bootstrap brokers")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.TLS.Enabled() {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		m, err := c.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// NewClient is kgo.NewClient with c's options followed by extra.
func (c Config) NewClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.Opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafkaclient: creating client for %s: %w", strings.Join(c.Brokers, ","), err)
	}
	return cl, nil
}

func (t TLS) config() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // explicit user opt-in for tests
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafkaclient: reading tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafkaclient: tls ca file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("kafkaclient: tls cert file and key file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafkaclient: loading tls client certificate %s: %w", t.CertFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("kafkaclient: sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
}

// DefaultRequestTimeout bounds one admin round trip in the CLI.
const DefaultRequestTimeout = 30 * time.Second
