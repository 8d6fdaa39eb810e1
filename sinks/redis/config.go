package redis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Modes of writing a row.
const (
	ModeString = "string" // SET key <after JSON>
	ModeHash   = "hash"   // one hash field per column

	// Record value formats (Config.Value).
	ValueEnvelope = "envelope" // a change event: op, before, after (default)
	ValueDocument = "document" // the value is the document itself (outbox payloads)
)

// Config configures a Redis sink; the connectors runtime fills it from the
// pipeline file's sink block (CONTRACTS.md "Pipeline file").
type Config struct {
	Pipeline string // pipeline name: the default template's first part
	Name     string // sink name, for logs and metrics

	// Addr is a standalone server, host:port. Addrs (one or more seed
	// nodes) selects Redis Cluster instead. Exactly one must be set.
	Addr     string
	Addrs    []string
	Username string // ACL user; empty = default user
	Password string // never logged; String redacts it
	DB       int    // standalone only; Cluster has only DB 0

	// Key is the key template (see Template); empty selects the default
	// `<pipeline>:<table>:{k1}:{k2}...` over all key columns in key order.
	Key string
	// Mode is ModeString (default) or ModeHash.
	Mode string
	// TTL, when > 0, is set on every key written (refreshed on each write).
	TTL time.Duration
	// Value is ValueEnvelope (default) or ValueDocument: the record's value
	// is a JSON object written as it is (SET, or HSET of its fields), a null
	// value (tombstone) DELs; the key is the record key's columns when it is
	// a JSON object, else one column "id" holding the key as text (an
	// outbox event's aggregate id), and the table of the default template
	// is the topic's last segment.
	Value string

	// Topics are the sink's topics, as in the pipeline file. Optional: with
	// the default template they name the tables (a topic's last
	// dot-separated segment) whose `<pipeline>:<table>:` prefixes a rebuild
	// sweeps, besides every table the sink has seen.
	Topics []string

	TLS TLSConfig
}

// TLSConfig configures TLS to Redis; the zero value is plain TCP.
type TLSConfig struct {
	Enabled            bool
	CAFile             string // PEM; empty = system roots
	CertFile, KeyFile  string // client certificate, both or neither
	ServerName         string // empty = the host of the address
	InsecureSkipVerify bool
}

// String renders c with the password redacted.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("redis.Config{Pipeline:%q Name:%q Addr:%q Addrs:%q Username:%q Password:%q DB:%d Key:%q Mode:%q TTL:%s Value:%q Topics:%q TLS:%t}",
		c.Pipeline, c.Name, c.Addr, c.Addrs, c.Username, pw, c.DB, c.Key, c.Mode, c.TTL, c.Value, c.Topics, c.TLS.Enabled)
}

// validate applies defaults to c and reports every problem, each naming its
// field.
func (c *Config) validate() (*Template, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...)))
	}
	if c.Mode == "" {
		c.Mode = ModeString
	}
	if c.Value == "" {
		c.Value = ValueEnvelope
	}
	switch c.Value {
	case ValueEnvelope, ValueDocument:
	default:
		bad("value", "%q is not envelope or document", c.Value)
	}
	switch c.Mode {
	case ModeString, ModeHash:
	default:
		bad("mode", "%q is not string or hash", c.Mode)
	}
	switch {
	case c.Addr == "" && len(c.Addrs) == 0:
		bad("addr", "required (or addrs for Redis Cluster)")
	case c.Addr != "" && len(c.Addrs) > 0:
		bad("addrs", "set either addr or addrs, not both")
	}
	if len(c.Addrs) > 0 && c.DB != 0 {
		bad("db", "Redis Cluster has only database 0")
	}
	if c.DB < 0 {
		bad("db", "must be >= 0")
	}
	if c.TTL < 0 {
		bad("ttl", "must be >= 0")
	}
	var t *Template
	if c.Key == "" {
		if c.Pipeline == "" {
			bad("key", "required when the pipeline name is unknown (the default template starts with it)")
		}
	} else {
		var err error
		if t, err = ParseTemplate(c.Key); err != nil {
			bad("key", "%v", err)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	return t, errors.Join(errs...)
}

func (c TLSConfig) build() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // explicit user opt-in for test servers
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.ca_file: %v", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.ca_file: %s holds no PEM certificate", ErrConfig, c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.cert_file: %v", ErrConfig, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Option configures New.
type Option func(*options)

type options struct {
	log *slog.Logger
	reg prometheus.Registerer
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the sink's metrics on r (default: none).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }
