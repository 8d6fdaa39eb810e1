package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	gosql "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/outbox/router"
)

// Snapshot modes (CONTRACTS.md source.snapshot).
const (
	SnapshotInitial     = "initial"      // snapshot once, then stream (default)
	SnapshotNever       = "never"        // stream only, from the current binlog end
	SnapshotWhenNeeded  = "when_needed"  // as initial, and re-snapshot when the binlog was purged
	SnapshotInitialOnly = "initial_only" // snapshot, then stop producing
)

// Truncate handling (as the Postgres source's).
const (
	TruncateEvent = "event" // an op "t" record per truncated captured table (default)
	TruncateSkip  = "skip"  // ignore TRUNCATE
)

// Flavors.
const (
	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"
)

// Config configures a Source. Defaults fills zero fields.
type Config struct {
	Pipeline string   // required; default topic prefix, derives ServerID
	DSN      string   // user:pass@tcp(host:port)/db
	Tables   []string // database.table; required
	Snapshot string   // initial (default) | never | when_needed | initial_only
	// TopicPrefix prefixes topics: <prefix>.<database>.<table>; default Pipeline.
	TopicPrefix string
	Flavor      string // mysql | mariadb; detected when empty
	// Truncate: event (default) | skip.
	Truncate string
	ServerID uint32 // replica server id; derived from Pipeline when 0
	// Partitions and ReplicationFactor of declared topics; <= 0: pipeline default.
	Partitions        int32
	ReplicationFactor int16

	// SnapshotWorkers read tables in parallel (default 2); ChunkSize rows
	// per primary-key chunk, the unit of resumable progress (default 10000).
	SnapshotWorkers int
	ChunkSize       int
	// HeartbeatPeriod asks the server for binlog heartbeats (default 10s),
	// so an idle server still moves the position.
	HeartbeatPeriod time.Duration
	// MaxBatch bounds the records one Read returns (default 4096);
	// QueueSize bounds the segments read ahead (default 256).
	MaxBatch, QueueSize int

	// Outbox, when set, routes the rows inserted into its table
	// (database.table) as events through the shared, immutable router
	// (CONTRACTS.md "Outbox"); the table gets no changelog topic and no
	// snapshot. Logical decoding messages (a router without a table) are
	// Postgres-only.
	Outbox *router.Router
	// OutboxCleanup deletes routed outbox rows once the broker acknowledged
	// their events (Ack), OutboxCleanBatch ids per DELETE (default 1000).
	OutboxCleanup    bool
	OutboxCleanBatch int
}

var pipelineName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Defaults fills zero fields with their defaults.
func (c *Config) Defaults() {
	if c.Snapshot == "" {
		c.Snapshot = SnapshotInitial
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = c.Pipeline
	}
	if c.Truncate == "" {
		c.Truncate = TruncateEvent
	}
	if c.ServerID == 0 {
		h := fnv.New32a()
		_, _ = io.WriteString(h, "sluice/"+c.Pipeline)
		c.ServerID = 1_000_000 + h.Sum32()%1_000_000_000
	}
	if c.SnapshotWorkers <= 0 {
		c.SnapshotWorkers = 2
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 10000
	}
	if c.HeartbeatPeriod <= 0 {
		c.HeartbeatPeriod = 10 * time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 4096
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
}

// Validate reports every problem, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...)) }
	if !pipelineName.MatchString(c.Pipeline) {
		bad("pipeline: %q must match %s", c.Pipeline, pipelineName)
	}
	if _, err := parseDSN(c.DSN); err != nil {
		bad("dsn: %v", err)
	}
	if len(c.Tables) == 0 && c.Outbox == nil {
		bad("tables: required (or an outbox)")
	}
	if c.Outbox != nil {
		switch ot := c.Outbox.Table(); {
		case ot == "":
			bad("outbox: prefix (logical decoding messages) is Postgres-only; set outbox.table")
		case strings.Count(ot, ".") != 1:
			bad("outbox.table: %q: want database.table", ot)
		case slices.Contains(c.Tables, ot):
			bad("outbox.table: %q is also in tables; the outbox table gets no changelog topic", ot)
		}
	} else if c.OutboxCleanup {
		bad("outbox_cleanup: needs an outbox")
	}
	for i, t := range c.Tables {
		if db, name := splitTable(t); db == "" || name == "" {
			bad("tables[%d]: %q: want database.table", i, t)
		}
	}
	switch c.Snapshot {
	case SnapshotInitial, SnapshotNever, SnapshotWhenNeeded, SnapshotInitialOnly:
	default:
		bad("snapshot: %q: want initial, never, when_needed or initial_only", c.Snapshot)
	}
	if c.Truncate != TruncateEvent && c.Truncate != TruncateSkip {
		bad("truncate: %q: want event or skip", c.Truncate)
	}
	switch c.Flavor {
	case "", FlavorMySQL, FlavorMariaDB:
	default:
		bad("flavor: %q: want mysql or mariadb", c.Flavor)
	}
	return errors.Join(errs...)
}

// String redacts the password.
func (c Config) String() string {
	d := c
	if cfg, err := parseDSN(c.DSN); err == nil && cfg.Passwd != "" {
		cfg.Passwd = "xxxxx"
		d.DSN = cfg.FormatDSN()
	} else if err != nil {
		d.DSN = "(unparsable)"
	}
	return fmt.Sprintf("mysql.Config{Pipeline:%s DSN:%s Tables:%v Snapshot:%s TopicPrefix:%s Flavor:%s ServerID:%d}",
		d.Pipeline, d.DSN, d.Tables, d.Snapshot, d.TopicPrefix, d.Flavor, d.ServerID)
}

// DSN parameters Sluice reads itself (removed before the driver sees them;
// the driver would send unknown ones as session variables). They follow
// the `ca_file`/`cert_file`/`key_file` names of the Redis and Elasticsearch
// sinks; `tls` keeps the driver's values (true, skip-verify, preferred,
// false). A `ca_file` without `tls` means `tls=true`.
const (
	dsnCAFile   = "ca_file"
	dsnCertFile = "cert_file"
	dsnKeyFile  = "key_file"
)

// parseDSN parses dsn and, when it asks for TLS, builds the tls.Config
// every connection of the source uses (the snapshot pool and the binlog
// stream alike). Files are read here, so a missing or bad CA file is a
// config error naming the file.
func parseDSN(dsn string) (*gosql.Config, error) {
	if dsn == "" {
		return nil, errors.New("required")
	}
	cfg, err := gosql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.Net != "tcp" {
		return nil, fmt.Errorf("want user:pass@tcp(host:port)/db, got network %q", cfg.Net)
	}
	caFile, certFile, keyFile := cfg.Params[dsnCAFile], cfg.Params[dsnCertFile], cfg.Params[dsnKeyFile]
	delete(cfg.Params, dsnCAFile)
	delete(cfg.Params, dsnCertFile)
	delete(cfg.Params, dsnKeyFile)
	if caFile == "" && certFile == "" && keyFile == "" {
		return cfg, nil
	}
	if cfg.TLS == nil && cfg.TLSConfig == "" {
		cfg.TLSConfig = "true"
		cfg.TLS = &tls.Config{}
	}
	if cfg.TLS == nil {
		return nil, fmt.Errorf("%s/%s/%s need TLS, but tls=%s", dsnCAFile, dsnCertFile, dsnKeyFile, cfg.TLSConfig)
	}
	t := cfg.TLS.Clone()
	t.MinVersion = tls.VersionTLS12
	if t.ServerName == "" && !t.InsecureSkipVerify {
		t.ServerName = hostOf(cfg.Addr)
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dsnCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", dsnCAFile, caFile)
		}
		t.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%s and %s go together", dsnCertFile, dsnKeyFile)
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dsnCertFile, dsnKeyFile, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	cfg.TLS = t
	return cfg, nil
}

func splitTable(t string) (db, name string) {
	db, name, ok := strings.Cut(t, ".")
	if !ok {
		return "", ""
	}
	return db, name
}

// Option configures New.
type Option func(*options)

type options struct {
	log *slog.Logger
	reg prometheus.Registerer
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the source's metrics on r (default: nowhere).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }
