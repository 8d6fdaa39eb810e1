package connectors

import (
	"time"

	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// The pipeline file (CONTRACTS.md "Pipeline file"). Order of use: Load (or
// Parse) decodes strictly, expands ${VAR}s, reads *_file secrets, then runs
// Defaults and Validate and returns every problem at once; a Config built in
// code gets Defaults() then Validate() before use. Field comments give the
// YAML key.

// ConfigVersion is the only pipeline file version this build reads.
const ConfigVersion = 1

// Defaults the pipeline file fills in (see Defaults).
const (
	DefaultDataDir     = "./data"
	DefaultListen      = "127.0.0.1:9092"
	DefaultSnapshot    = SnapshotInitial
	DefaultOutboxTopic = "outbox.event.{aggregatetype}"
	DefaultRedisMode   = "string"
	// Sink value formats (sinks[].value).
	SinkValueEnvelope       = "envelope"
	SinkValueDocument       = "document"
	DefaultESBatchSize      = 1000
	maxPostgresIdentifier   = 63 // NAMEDATALEN - 1
	maxKafkaTopicNameLength = 249
)

// Source types, snapshot modes and other enumerations of the file.
const (
	SourcePostgres = "postgres"
	SourceMySQL    = "mysql"

	SnapshotInitial     = "initial"      // snapshot when there is no stored position, then stream
	SnapshotNever       = "never"        // stream only
	SnapshotWhenNeeded  = "when_needed"  // also re-snapshot when the stored position is gone upstream
	SnapshotInitialOnly = "initial_only" // snapshot, then stop

	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"

	SinkElasticsearch = "elasticsearch"
	SinkRedis         = "redis"

	RedisModeString = "string"
	RedisModeHash   = "hash"
)

// Config is a whole pipeline file.
type Config struct {
	Version   int              // version (required, 1)
	Broker    BrokerConfig     // broker (absent: embedded at ./data, 127.0.0.1:9092)
	Pipelines []PipelineConfig // pipelines (at least one)

	src *sourceMap // where each field was written; nil for a config built in code
}

// BrokerConfig says which broker the pipelines use: the embedded one, or
// an existing Kafka-compatible cluster. Exactly one of Embedded and
// Bootstrap is set after Defaults.
type BrokerConfig struct {
	Embedded  *EmbeddedBroker // embedded
	Bootstrap []string        // bootstrap: host:port list
	TLS       *TLSConfig      // tls (bootstrap only); present, even empty, turns TLS on
	SASL      *SASLConfig     // sasl (bootstrap only)
}

// EmbeddedBroker runs the broker inside `sluice run`.
type EmbeddedBroker struct {
	DataDir string // data_dir, default ./data
	Listen  string // listen, default 127.0.0.1:9092
}

// TLSConfig configures TLS to the brokers or to Redis. Files are read when
// connecting, not by Load.
type TLSConfig struct {
	CAFile             string // ca_file: PEM roots instead of the system's
	CertFile           string // cert_file: client certificate (with key_file)
	KeyFile            string // key_file
	ServerName         string // server_name: overrides the name checked
	InsecureSkipVerify bool   // insecure_skip_verify: accept any certificate (tests only)
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	Mechanism string // mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string // username
	Password  Secret // password or password_file
}

// PipelineConfig is one pipeline: a source, sinks, or both.
type PipelineConfig struct {
	Name       string            // name: [a-z0-9][a-z0-9_-]*, unique
	Source     *SourceConfig     // source
	Transforms []TransformConfig // transforms, applied in order by the source
	Sinks      []SinkConfig      // sinks
}

// SourceConfig is a pipeline's database source.
type SourceConfig struct {
	Type              string        // type: postgres | mysql
	DSN               DSN           // dsn or dsn_file
	Tables            []string      // tables: schema.table (MySQL database.table)
	Snapshot          string        // snapshot, default initial
	TopicPrefix       string        // topic_prefix, default the pipeline name
	Partitions        int32         // partitions of created topics; 0: the broker's default
	ReplicationFactor int16         // replication_factor; 0: the broker's default
	Outbox            *OutboxConfig // outbox
	// OnTooLarge is what happens to a record larger than the broker accepts
	// for its topic (max.message.bytes): stop (default: the source fails
	// and retries with backoff, naming topic, key and size, until the limit
	// is raised) or dlq (its key and the error go to DLQ, the rest flows).
	OnTooLarge string    // on_too_large: stop | dlq
	DLQ        DLQConfig // dlq (with on_too_large: dlq); empty topic: <record's topic>.dlq

	Slot        string // slot (postgres), default sluice_<pipeline> with - as _
	Publication string // publication (postgres), same default

	Flavor   string // flavor (mysql): mysql | mariadb; empty: detected
	ServerID uint32 // server_id (mysql); 0: derived
}

// OutboxConfig routes outbox events (CONTRACTS.md "Outbox"): rows inserted
// into Table, or (Postgres) logical decoding messages with Prefix. Exactly
// one of the two is set.
type OutboxConfig struct {
	Table   string        // table: schema.table of the outbox
	Prefix  string        // prefix: pg_logical_emit_message prefix (postgres)
	Topic   string        // topic template; {aggregatetype} and {type} placeholders; default outbox.event.{aggregatetype}
	Columns OutboxColumns // columns: the table's column names (table only)
	// Cleanup (cleanup: true) deletes routed rows from the outbox table once
	// the broker acknowledged their records, CleanBatch ids per DELETE
	// (clean_batch; 0: the router's default). Table mode, MySQL source.
	Cleanup    bool
	CleanBatch int
}

// OutboxColumns maps the outbox event's parts to the table's columns; the
// defaults are the parts' own names.
type OutboxColumns struct {
	ID            string // id
	AggregateType string // aggregatetype
	AggregateID   string // aggregateid
	Type          string // type
	Payload       string // payload
	Headers       string // headers (optional column; absent from the table is fine)
}

// TransformConfig is one transform. Which fields apply depends on Type:
// filter {tables, ops}; drop_fields / mask_fields {table, fields};
// rename_fields {table, fields: {old: new}}; route {tables, topic}.
type TransformConfig struct {
	Type   string            // type
	Tables []string          // tables (filter: optional, all when empty; route: required)
	Table  string            // table (drop/mask/rename_fields)
	Ops    []Op              // ops (filter): r c u d t
	Fields []string          // fields (drop_fields, mask_fields)
	Rename map[string]string // fields (rename_fields): old -> new
	Topic  string            // topic (route)
}

// SinkConfig is one sink of a pipeline; Elasticsearch or Redis is set,
// matching Type.
type SinkConfig struct {
	Name       string    // name: [a-z0-9][a-z0-9_-]*, unique in the pipeline
	Type       string    // type: elasticsearch | redis
	Topics     []string  // topics (required, non-empty)
	Group      string    // group, default sluice.<pipeline>.<name>
	InstanceID string    // instance_id: static group membership when set
	DLQ        DLQConfig // dlq
	// Value is how the sink reads record values: envelope (default: a
	// change event; the document is its after image) or document (the
	// value is the document itself, as an outbox event's payload; a null
	// value deletes; the id comes from the key, as text when the key is not
	// a JSON object).
	Value string // value: envelope | document

	Elasticsearch *ElasticsearchConfig
	Redis         *RedisConfig
}

// DLQConfig is where a sink's rejected records go.
type DLQConfig struct {
	Topic string // topic; empty: <record's topic>.dlq
}

// ElasticsearchConfig is an elasticsearch sink's target.
type ElasticsearchConfig struct {
	URL                DSN    // url: http(s)://host:port (user info is redacted when printed)
	Index              string // index: the alias searches use
	Username           string // username (basic auth, with password)
	Password           Secret // password or password_file
	APIKey             Secret // api_key or api_key_file (instead of username/password)
	CAFile             string // ca_file: PEM roots for https
	InsecureSkipVerify bool   // insecure_skip_verify (tests only)
	BatchSize          int    // batch_size: documents per bulk request, default 1000
	KeepIndexes        int    // keep_indexes: old indexes kept after a rebuild swaps the alias, default 0
}

// RedisConfig is a redis sink's target.
type RedisConfig struct {
	Addr     string        // addr: host:port of a standalone server
	Addrs    []string      // addrs: Redis Cluster seed nodes (instead of addr)
	Key      string        // key template; empty: <pipeline>:<table>:{k1}:{k2}...
	Mode     string        // mode: string | hash, default string
	TTL      time.Duration // ttl: Go duration (90s, 1h); 0: no expiry
	Username string        // username (ACL)
	Password Secret        // password or password_file
	DB       int           // db (standalone only)
	TLS      *TLSConfig    // tls; present, even empty, turns TLS on
}

// Defaults fills in every default the file format defines; Load calls it.
// It is idempotent and never overrides a value that is set.
func (c *Config) Defaults() {
	b := &c.Broker
	if b.Embedded == nil && b.Bootstrap == nil {
		b.Embedded = &EmbeddedBroker{}
	}
	if b.Embedded != nil {
		if b.Embedded.DataDir == "" {
			b.Embedded.DataDir = DefaultDataDir
		}
		if b.Embedded.Listen == "" {
			b.Embedded.Listen = DefaultListen
		}
	}
	for i := range c.Pipelines {
		c.Pipelines[i].defaults()
	}
}

func (p *PipelineConfig) defaults() {
	if s := p.Source; s != nil {
		if s.OnTooLarge == "" {
			s.OnTooLarge = TooLargeStop
		}
		if s.Snapshot == "" {
			s.Snapshot = DefaultSnapshot
		}
		if s.TopicPrefix == "" {
			s.TopicPrefix = p.Name
		}
		if s.Type == SourcePostgres {
			if s.Slot == "" {
				s.Slot = p.DefaultSlot()
			}
			if s.Publication == "" {
				s.Publication = p.DefaultSlot()
			}
		}
		if o := s.Outbox; o != nil {
			if o.Topic == "" {
				o.Topic = DefaultOutboxTopic
			}
			if o.Table != "" {
				col := &o.Columns
				for _, f := range []struct {
					v   *string
					def string
				}{{&col.ID, "id"}, {&col.AggregateType, "aggregatetype"}, {&col.AggregateID, "aggregateid"}, {&col.Type, "type"}, {&col.Payload, "payload"}, {&col.Headers, "headers"}} {
					if *f.v == "" {
						*f.v = f.def
					}
				}
			}
		}
	}
	for i := range p.Sinks {
		s := &p.Sinks[i]
		if s.Group == "" {
			s.Group = "sluice." + p.Name + "." + s.Name
		}
		if s.Value == "" {
			s.Value = SinkValueEnvelope
		}
		if es := s.Elasticsearch; es != nil {
			if es.BatchSize == 0 {
				es.BatchSize = DefaultESBatchSize
			}
		}
		if r := s.Redis; r != nil && r.Mode == "" {
			r.Mode = DefaultRedisMode
		}
	}
}

// DefaultSlot is the default replication slot and publication name of the
// pipeline: sluice_<name> with every - as _.
func (p *PipelineConfig) DefaultSlot() string {
	b := []byte("sluice_" + p.Name)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// ChangelogTopic is the topic a source table's changes go to before
// transforms: <topic_prefix>.<schema>.<table>. Call after Defaults.
func (s *SourceConfig) ChangelogTopic(table string) string {
	return s.TopicPrefix + "." + table
}

// Topics returns the topics the pipeline's source produces to after
// transforms (changelog topics, route targets; the outbox template as
// written), in file order without repeats; nil without a source. Call after
// Defaults.
func (p *PipelineConfig) Topics() []string {
	s := p.Source
	if s == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	routed := map[string]string{}
	for _, t := range p.Transforms {
		if t.Type == TransformRoute {
			for _, tb := range t.Tables {
				if _, ok := routed[tb]; !ok {
					routed[tb] = t.Topic
				}
			}
		}
	}
	for _, tb := range s.Tables {
		if r, ok := routed[tb]; ok {
			add(r)
		} else {
			add(s.ChangelogTopic(tb))
		}
	}
	if s.Outbox != nil {
		add(s.Outbox.Topic)
	}
	return out
}

// Kafka is how connectors reach the broker this file names: the embedded
// broker's listen address, or the bootstrap list with TLS and SASL.
func (b *BrokerConfig) Kafka() kafkaclient.Config {
	if b.Embedded != nil {
		return kafkaclient.Config{Brokers: []string{b.Embedded.Listen}}
	}
	kc := kafkaclient.Config{Brokers: append([]string(nil), b.Bootstrap...)}
	if t := b.TLS; t != nil {
		kc.TLS = kafkaclient.TLS{Enable: true, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	if s := b.SASL; s != nil {
		kc.SASL = kafkaclient.SASL{Mechanism: s.Mechanism, Username: s.Username, Password: s.Password.Value()}
	}
	return kc
}

// Spec maps the transform to the runtime's TransformSpec.
func (t *TransformConfig) Spec() TransformSpec {
	return TransformSpec{Type: t.Type, Tables: t.Tables, Table: t.Table, Ops: t.Ops, Fields: t.Fields, Rename: t.Rename, Topic: t.Topic}
}
