package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/outbox/router"
)

// Snapshot modes (CONTRACTS.md source.snapshot).
const (
	SnapshotInitial     = "initial"      // snapshot once, then stream (default)
	SnapshotNever       = "never"        // stream only, from the slot
	SnapshotWhenNeeded  = "when_needed"  // snapshot when the slot is missing or the position unusable
	SnapshotInitialOnly = "initial_only" // snapshot, no slot, no stream
)

// Unchanged TOAST handling (TYPES.md).
const (
	ToastMarker = "marker" // carry ToastMarkerValue in place of the value (default)
	ToastOmit   = "omit"   // leave the column out of the image
)

// DefaultToastMarker is Debezium's unavailable-value placeholder, which
// Sluice's sinks already recognize.
const DefaultToastMarker = "__debezium_unavailable_value"

// Truncate handling.
const (
	TruncateEvent = "event" // an op "t" record per truncated table (default)
	TruncateSkip  = "skip"  // ignore TRUNCATE
)

// Config configures a Source. Zero values take the defaults documented per
// field (Defaults applies them).
type Config struct {
	Pipeline string   // required; names the slot, publication and default prefix
	DSN      string   // required; a user with REPLICATION (or superuser)
	Tables   []string // schema.table; required unless Outbox is set (a bare name means public.name)
	Snapshot string   // initial (default) | never | when_needed | initial_only
	// TopicPrefix prefixes topics: <prefix>.<schema>.<table>; default Pipeline.
	TopicPrefix string
	// Slot and Publication default to sluice_<pipeline> with '-' as '_'.
	Slot, Publication string
	// UseExistingPublication: use Publication as it is (it must exist);
	// otherwise Sluice creates it for exactly Tables, or sets its table list.
	UseExistingPublication bool
	// Partitions and ReplicationFactor of declared topics; <= 0: pipeline default.
	Partitions        int32
	ReplicationFactor int16

	// SnapshotWorkers read tables in parallel (default 2); ChunkSize rows
	// per keyset chunk, the unit of resumable progress (default 10000).
	SnapshotWorkers int
	ChunkSize       int
	// Toast: marker (default) | omit; ToastMarkerValue defaults to
	// DefaultToastMarker.
	Toast            string
	ToastMarkerValue string
	// Truncate: event (default) | skip.
	Truncate string
	// HeartbeatInterval > 0 writes pg_logical_emit_message every interval,
	// so an idle database still moves WAL and the slot advances.
	HeartbeatInterval time.Duration
	// StatusInterval between standby status updates (default 10s; keep it
	// well under the server's wal_sender_timeout).
	StatusInterval time.Duration
	// WALRetentionWarn: warn when the slot retains more WAL bytes than this
	// (default 1 GiB; < 0 disables). Checked every SlotCheckInterval (30s).
	WALRetentionWarn  int64
	SlotCheckInterval time.Duration
	// AllowKeyless: capture tables without primary key or replica identity
	// index, with nil record keys (on a non-compacted topic).
	AllowKeyless bool
	// MaxBatch bounds the records one Read returns (default 4096); QueueSize
	// bounds records read ahead of Read (default 65536).
	MaxBatch, QueueSize int
	// ReconnectMin/Max bound the backoff of the stream's reconnects
	// (defaults 500ms, 30s).
	ReconnectMin, ReconnectMax time.Duration

	// Outbox, when set, routes outbox events (CONTRACTS.md "Outbox"):
	// inserts into its table (router.Router.Table, which is added to the
	// publication but gets no changelog topic and no snapshot), or
	// transactional logical decoding messages with its prefix (table
	// empty; replication then asks pgoutput for messages, Postgres 14+).
	Outbox *router.Router
	// OutboxCleanup (table mode only) deletes routed outbox rows once the
	// broker acknowledged the records that carried them (Ack), on its own
	// connection, OutboxCleanBatch ids per DELETE (default
	// router.DefaultCleanBatch).
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
	def := "sluice_" + strings.ReplaceAll(c.Pipeline, "-", "_")
	if c.Slot == "" {
		c.Slot = def
	}
	if c.Publication == "" {
		c.Publication = def
	}
	if c.SnapshotWorkers <= 0 {
		c.SnapshotWorkers = 2
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 10000
	}
	if c.Toast == "" {
		c.Toast = ToastMarker
	}
	if c.ToastMarkerValue == "" {
		c.ToastMarkerValue = DefaultToastMarker
	}
	if c.Truncate == "" {
		c.Truncate = TruncateEvent
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.WALRetentionWarn == 0 {
		c.WALRetentionWarn = 1 << 30
	}
	if c.SlotCheckInterval <= 0 {
		c.SlotCheckInterval = 30 * time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 4096
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 65536
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 500 * time.Millisecond
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = 30 * time.Second
	}
}

var identName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Validate reports every problem, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...)))
	}
	if !pipelineName.MatchString(c.Pipeline) {
		bad("pipeline", "%q must match [a-z0-9][a-z0-9_-]*", c.Pipeline)
	}
	if c.DSN == "" {
		bad("dsn", "required")
	}
	if len(c.Tables) == 0 && c.Outbox == nil {
		bad("tables", "required (or an outbox)")
	}
	if c.Outbox != nil && c.Outbox.Table() != "" {
		s, n := splitTable(c.Outbox.Table())
		if s == "" || n == "" || strings.Count(c.Outbox.Table(), ".") > 1 {
			bad("outbox.table", "%q is not schema.table", c.Outbox.Table())
		}
		for _, t := range c.Tables {
			if ts, tn := splitTable(t); ts == s && tn == n {
				bad("outbox.table", "%q is also in tables; the outbox table gets no changelog topic", c.Outbox.Table())
			}
		}
	}
	if c.OutboxCleanup && (c.Outbox == nil || c.Outbox.Table() == "") {
		bad("outbox_cleanup", "needs an outbox table (messages leave no rows to delete)")
	}
	seen := map[string]bool{}
	for i, t := range c.Tables {
		s, n := splitTable(t)
		if s == "" || n == "" || strings.Count(t, ".") > 1 {
			bad(fmt.Sprintf("tables[%d]", i), "%q is not schema.table", t)
		}
		if seen[s+"."+n] {
			bad(fmt.Sprintf("tables[%d]", i), "%q listed twice", t)
		}
		seen[s+"."+n] = true
	}
	switch c.Snapshot {
	case SnapshotInitial, SnapshotNever, SnapshotWhenNeeded, SnapshotInitialOnly:
	default:
		bad("snapshot", "%q is not initial|never|when_needed|initial_only", c.Snapshot)
	}
	if !identName.MatchString(c.Slot) {
		bad("slot", "%q must be lower case letters, digits and _", c.Slot)
	}
	if c.Publication == "" {
		bad("publication", "required")
	}
	if c.Toast != ToastMarker && c.Toast != ToastOmit {
		bad("toast", "%q is not marker|omit", c.Toast)
	}
	if c.Truncate != TruncateEvent && c.Truncate != TruncateSkip {
		bad("truncate", "%q is not event|skip", c.Truncate)
	}
	return errors.Join(errs...)
}

// String redacts the DSN's password.
func (c Config) String() string {
	c.DSN = redactDSN(c.DSN)
	type plain Config
	return fmt.Sprintf("%+v", plain(c))
}

var dsnPassword = regexp.MustCompile(`(://[^:/@]*:)[^@]*@|(password=)\S+`)

func redactDSN(dsn string) string {
	return dsnPassword.ReplaceAllString(dsn, "${1}${2}REDACTED@")
}

// splitTable splits schema.table; a bare name is in public.
func splitTable(t string) (schema, name string) {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return "public", t
}

// Option configures New.
type Option func(*options)

type options struct {
	log *slog.Logger
	reg prometheus.Registerer
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the source's metrics (default: nowhere).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }
