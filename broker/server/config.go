package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Server. Decode it, call Defaults, then Validate (New
// does both).
type Config struct {
	// NodeID is the broker id reported in Metadata (alone: 1).
	NodeID int32
	// DataDir holds the topic table, the cluster id and the partition logs.
	DataDir string
	// AdvertisedAddr is the host:port clients are told to connect to. Empty:
	// the listener's address (a wildcard host becomes the host name).
	AdvertisedAddr string
	// Configs are Kafka broker configs (server.properties keys), e.g.
	// auto.create.topics.enable, num.partitions, log.retention.ms. Topic
	// config defaults come from their broker keys. Unknown keys are refused,
	// except group.* and offsets.*, which belong to the group coordinator.
	Configs map[string]string
	// Logger receives connection and lifecycle logs; nil discards.
	Logger *slog.Logger
	// TLS, when set, makes the listener TLS-only (see LoadTLSConfig);
	// plaintext clients fail the handshake and are disconnected.
	TLS *tls.Config
	// SASLMechanisms, when non-empty, makes the listener require SASL
	// authentication with one of these (PLAIN, SCRAM-SHA-256,
	// SCRAM-SHA-512) before any request but ApiVersions, SaslHandshake and
	// SaslAuthenticate. Credentials live in the data dir (see auth.go).
	SASLMechanisms []string
}

// brokerConfigDef is a broker-level config the server itself reads.
type brokerConfigDef struct {
	name, def, doc string
	typ            kmsg.ConfigType
	validate       func(string) error
}

func validLong(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not an integer in [%d, %d]", v, lo, hi)
		}
		return nil
	}
}

func validBool(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

var brokerConfigDefs = []brokerConfigDef{
	{name: "auto.create.topics.enable", def: "true", typ: typBoolean, validate: validBool,
		doc: "create a topic when Metadata asks for a missing one and allows it"},
	{name: "num.partitions", def: "1", typ: typInt, validate: validLong(1, maxPartitionsPerTopic),
		doc: "partitions of an auto-created topic and of CreateTopics with -1"},
	{name: "default.replication.factor", def: "1", typ: typInt, validate: validLong(1, 1<<15-1),
		doc: "replication factor of new topics (single node: 1; a cluster defaults to min(3, live brokers))"},
	{name: "replica.lag.time.max.ms", def: "30000", typ: typLong, validate: validLong(1, 1<<40),
		doc: "cluster: a follower not caught up for this long leaves the ISR"},
	{name: "replica.fetch.wait.max.ms", def: "500", typ: typInt, validate: validLong(0, 1<<31-1),
		doc: "cluster: how long a follower's fetch waits at the leader for new data"},
	{name: "replica.fetch.max.bytes", def: "1048576", typ: typInt, validate: validLong(1024, 1<<31-1),
		doc: "cluster: bytes a follower fetches per partition per request"},
	{name: "broker.heartbeat.interval.ms", def: "2000", typ: typInt, validate: validLong(1, 1<<31-1),
		doc: "cluster: how often a broker heartbeats to the controller"},
	{name: "broker.session.timeout.ms", def: "9000", typ: typInt, validate: validLong(1, 1<<31-1),
		doc: "cluster: a broker silent this long is fenced; its leaderships move"},
	{name: "auto.leader.rebalance.enable", def: "true", typ: typBoolean, validate: validBool,
		doc: "cluster: move leadership back to preferred replicas once they are in sync"},
	{name: "leader.imbalance.check.interval.seconds", def: "300", typ: typLong, validate: validLong(1, 1<<31-1),
		doc: "cluster: how often the controller checks for preferred leaders"},
	{name: "socket.request.max.bytes", def: strconv.Itoa(int(kafkaproto.DefaultMaxRequestBytes)), typ: typInt,
		validate: validLong(1024, 1<<31-1), doc: "largest request frame accepted; bigger ones close the connection"},
	{name: "delete.topic.enable", def: "true", typ: typBoolean, validate: validBool,
		doc: "allow DeleteTopics"},
	{name: "log.retention.check.interval.ms", def: "300000", typ: typLong, validate: validLong(1, 1<<40),
		doc: "how often retention runs (the cleaner runs at the smaller of this and log.cleaner.backoff.ms)"},
	{name: "fetch.max.bytes", def: "57671680", typ: typInt, validate: validLong(1024, 1<<31-1),
		doc: "largest fetch response the broker builds, whatever the client asks"},
	{name: "producer.id.expiration.ms", def: "86400000", typ: typInt, validate: validLong(1, 1<<40),
		doc: "idle time after which a partition forgets an idempotent producer's sequence state"},
	{name: "authorizer.enable", def: "false", typ: typBoolean, validate: validBool,
		doc: "check every request against the ACLs (default deny); also turned on by authorizer.class.name"},
	{name: "authorizer.class.name", def: "", typ: typString, validate: anyString,
		doc: "Kafka's authorizer class: any value turns the ACL authorizer on"},
	{name: "super.users", def: "", typ: typString, validate: validSuperUsers,
		doc: "principals that bypass ACLs, separated by ';' (User:admin;User:ops)"},
	{name: "allow.everyone.if.no.acl.found", def: "false", typ: typBoolean, validate: validBool,
		doc: "with ACLs on, allow access to resources no ACL mentions"},
	{name: "log.cleaner.backoff.ms", def: "15000", typ: typLong, validate: validLong(1, 1<<40),
		doc: "how often compaction runs"},
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if c.Configs == nil {
		c.Configs = map[string]string{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem in c, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID < 0 {
		errs = append(errs, fmt.Errorf("%w: node_id: %d is negative", ErrBadConfig, c.NodeID))
	}
	if c.DataDir == "" {
		errs = append(errs, fmt.Errorf("%w: data_dir: required", ErrBadConfig))
	}
	if c.AdvertisedAddr != "" {
		if _, port, err := net.SplitHostPort(c.AdvertisedAddr); err != nil {
			errs = append(errs, fmt.Errorf("%w: advertised_addr: %w", ErrBadConfig, err))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("%w: advertised_addr: bad port %q", ErrBadConfig, port))
		}
	}
	if err := validateSASLMechanisms(c.SASLMechanisms); err != nil {
		errs = append(errs, err)
	}
	keys := make([]string, 0, len(c.Configs))
	for k := range c.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	topicDefaults := map[string]*configDef{}
	for i := range topicConfigDefs {
		topicDefaults[topicConfigDefs[i].brokerKey] = &topicConfigDefs[i]
	}
	for _, k := range keys {
		v := c.Configs[k]
		if d, ok := topicDefaults[k]; ok {
			var tc TopicConfig
			if err := d.apply(&tc, v); err != nil {
				errs = append(errs, fmt.Errorf("%w: configs.%s: %w", ErrBadConfig, k, err))
			}
			continue
		}
		if d := brokerDef(k); d != nil {
			if err := d.validate(v); err != nil {
				errs = append(errs, fmt.Errorf("%w: configs.%s: %w", ErrBadConfig, k, err))
			}
			continue
		}
		if strings.HasPrefix(k, "group.") || strings.HasPrefix(k, "offsets.") {
			continue
		}
		errs = append(errs, fmt.Errorf("%w: configs.%s: unknown broker config", ErrBadConfig, k))
	}
	return errors.Join(errs...)
}

func brokerDef(name string) *brokerConfigDef {
	for i := range brokerConfigDefs {
		if brokerConfigDefs[i].name == name {
			return &brokerConfigDefs[i]
		}
	}
	return nil
}

// brokerValue returns a broker config's value (validated by Validate).
func (c *Config) brokerValue(name string) string {
	if v, ok := c.Configs[name]; ok {
		return v
	}
	if d := brokerDef(name); d != nil {
		return d.def
	}
	return ""
}

func (c *Config) brokerInt(name string) int64 {
	n, _ := strconv.ParseInt(c.brokerValue(name), 10, 64)
	return n
}

func (c *Config) brokerBool(name string) bool { return c.brokerValue(name) == "true" }
