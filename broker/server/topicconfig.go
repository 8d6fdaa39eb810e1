package server

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicConfig is a topic's effective configuration, resolved from built-in
// defaults, broker-level defaults (Config.Configs) and topic overrides.
type TopicConfig struct {
	CleanupPolicy          string // "delete", "compact" or "compact,delete"
	RetentionMS            int64  // -1: forever
	RetentionBytes         int64  // -1: unbounded
	SegmentBytes           int64
	SegmentMS              int64
	DeleteRetentionMS      int64
	MinCompactionLagMS     int64
	MaxMessageBytes        int32
	MinInsyncReplicas      int32
	MinCleanableDirtyRatio float64
	IndexIntervalBytes     int32
	FlushMessages          int64
	FlushMS                int64
	TimestampType          string // "CreateTime" or "LogAppendTime"
}

// Compacted reports whether the cleanup policy includes compact.
func (c TopicConfig) Compacted() bool { return strings.Contains(c.CleanupPolicy, "compact") }

// configDef describes one topic config: its Kafka name, the broker config
// that sets its default, Kafka's built-in default, its DescribeConfigs type,
// and how to parse it into a TopicConfig.
type configDef struct {
	name      string
	brokerKey string
	def       string
	typ       kmsg.ConfigType // DescribeConfigs v3+ config_type
	doc       string
	apply     func(c *TopicConfig, v string) error // nil: accepted and stored, not used by Sluice
}

// Short names for the DescribeConfigs enums used in the tables below.
const (
	typBoolean = kmsg.ConfigTypeBoolean
	typString  = kmsg.ConfigTypeString
	typInt     = kmsg.ConfigTypeInt
	typLong    = kmsg.ConfigTypeLong
	typDouble  = kmsg.ConfigTypeDouble
	typList    = kmsg.ConfigTypeList

	srcTopic        = kmsg.ConfigSourceDynamicTopicConfig
	srcStaticBroker = kmsg.ConfigSourceStaticBrokerConfig
	srcDefault      = kmsg.ConfigSourceDefaultConfig
)

func parseLong(lo int64) func(string) (int64, error) {
	return func(v string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not a number: %q", v)
		}
		if n < lo {
			return 0, fmt.Errorf("%d is below the minimum %d", n, lo)
		}
		return n, nil
	}
}

func longInto(lo int64, dst func(*TopicConfig) *int64) func(*TopicConfig, string) error {
	p := parseLong(lo)
	return func(c *TopicConfig, v string) error {
		n, err := p(v)
		if err == nil {
			*dst(c) = n
		}
		return err
	}
}

func intInto(lo int64, dst func(*TopicConfig) *int32) func(*TopicConfig, string) error {
	p := parseLong(lo)
	return func(c *TopicConfig, v string) error {
		n, err := p(v)
		if err == nil && n > math.MaxInt32 {
			err = fmt.Errorf("%d is above the maximum %d", n, math.MaxInt32)
		}
		if err == nil {
			*dst(c) = int32(n)
		}
		return err
	}
}

func oneOf(values ...string) func(*TopicConfig, string) error {
	return func(_ *TopicConfig, v string) error {
		for _, ok := range values {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
	}
}

func parseCleanupPolicy(v string) (string, error) {
	var compact, del bool
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			compact = true
		case "delete":
			del = true
		default:
			return "", fmt.Errorf("%q is not a list of compact and delete", v)
		}
	}
	switch {
	case compact && del:
		return "compact,delete", nil
	case compact:
		return "compact", nil
	}
	return "delete", nil
}

// topicConfigDefs lists every topic config a topic may set. The first block
// is honoured by the log; the second is accepted because Kafka tooling and
// users commonly set it, and is harmless on a single node (each says why in
// its doc). Anything else is INVALID_CONFIG.
var topicConfigDefs = []configDef{
	{name: "cleanup.policy", brokerKey: "log.cleanup.policy", def: "delete", typ: typList,
		doc: "delete, compact, or compact,delete",
		apply: func(c *TopicConfig, v string) error {
			p, err := parseCleanupPolicy(v)
			c.CleanupPolicy = p
			return err
		}},
	{name: "retention.ms", brokerKey: "log.retention.ms", def: "604800000", typ: typLong,
		doc: "how long to keep closed segments; -1 forever", apply: longInto(-1, func(c *TopicConfig) *int64 { return &c.RetentionMS })},
	{name: "retention.bytes", brokerKey: "log.retention.bytes", def: "-1", typ: typLong,
		doc: "partition size above which old segments are deleted; -1 unbounded", apply: longInto(-1, func(c *TopicConfig) *int64 { return &c.RetentionBytes })},
	{name: "segment.bytes", brokerKey: "log.segment.bytes", def: "1073741824", typ: typInt,
		doc: "segment size at which the log rolls", apply: longInto(1024, func(c *TopicConfig) *int64 { return &c.SegmentBytes })},
	{name: "segment.ms", brokerKey: "log.roll.ms", def: "604800000", typ: typLong,
		doc: "segment age at which the log rolls", apply: longInto(1, func(c *TopicConfig) *int64 { return &c.SegmentMS })},
	{name: "delete.retention.ms", brokerKey: "log.cleaner.delete.retention.ms", def: "86400000", typ: typLong,
		doc: "how long compaction keeps tombstones", apply: longInto(0, func(c *TopicConfig) *int64 { return &c.DeleteRetentionMS })},
	{name: "min.compaction.lag.ms", brokerKey: "log.cleaner.min.compaction.lag.ms", def: "0", typ: typLong,
		doc: "minimum age before a record may be compacted", apply: longInto(0, func(c *TopicConfig) *int64 { return &c.MinCompactionLagMS })},
	{name: "max.message.bytes", brokerKey: "message.max.bytes", def: "1048588", typ: typInt,
		doc: "largest record batch accepted", apply: intInto(0, func(c *TopicConfig) *int32 { return &c.MaxMessageBytes })},
	{name: "min.insync.replicas", brokerKey: "min.insync.replicas", def: "1", typ: typInt,
		doc: "replicas that must have a batch for acks=all to succeed", apply: intInto(1, func(c *TopicConfig) *int32 { return &c.MinInsyncReplicas })},
	{name: "min.cleanable.dirty.ratio", brokerKey: "log.cleaner.min.cleanable.ratio", def: "0.5", typ: typDouble,
		doc: "dirty share of the log above which compaction runs",
		apply: func(c *TopicConfig, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				return fmt.Errorf("%q is not a number in [0,1]", v)
			}
			c.MinCleanableDirtyRatio = f
			return nil
		}},
	{name: "index.interval.bytes", brokerKey: "log.index.interval.bytes", def: "4096", typ: typInt,
		doc: "bytes between offset index entries", apply: intInto(0, func(c *TopicConfig) *int32 { return &c.IndexIntervalBytes })},

	{name: "flush.messages", brokerKey: "log.flush.interval.messages", def: "9223372036854775807", typ: typLong,
		doc: "accepted; no effect: every append is durable before it is acknowledged", apply: longInto(1, func(c *TopicConfig) *int64 { return &c.FlushMessages })},
	{name: "flush.ms", brokerKey: "log.flush.interval.ms", def: "9223372036854775807", typ: typLong,
		doc: "accepted; no effect: every append is durable before it is acknowledged", apply: longInto(0, func(c *TopicConfig) *int64 { return &c.FlushMS })},
	{name: "compression.type", brokerKey: "compression.type", def: "producer", typ: typString,
		doc: "only producer: batches are stored as the producer compressed them", apply: oneOf("producer")},
	{name: "message.timestamp.type", brokerKey: "log.message.timestamp.type", def: "CreateTime", typ: typString,
		doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's",
		apply: func(c *TopicConfig, v string) error {
			if err := oneOf("CreateTime", "LogAppendTime")(c, v); err != nil {
				return err
			}
			c.TimestampType = v
			return nil
		}},
	{name: "unclean.leader.election.enable", brokerKey: "unclean.leader.election.enable", def: "false", typ: typBoolean,
		doc: "no effect on a single node", apply: oneOf("true", "false")},
	{name: "max.compaction.lag.ms", brokerKey: "log.cleaner.max.compaction.lag.ms", def: "9223372036854775807", typ: typLong,
		doc:   "accepted; compaction is driven by min.cleanable.dirty.ratio",
		apply: func(_ *TopicConfig, v string) error { _, err := parseLong(1)(v); return err }},
	{name: "segment.index.bytes", brokerKey: "log.index.size.max.bytes", def: "10485760", typ: typInt,
		doc:   "accepted; the log sizes its own indexes",
		apply: func(_ *TopicConfig, v string) error { _, err := parseLong(4)(v); return err }},
	{name: "segment.jitter.ms", brokerKey: "log.roll.jitter.ms", def: "0", typ: typLong,
		doc:   "accepted; no effect",
		apply: func(_ *TopicConfig, v string) error { _, err := parseLong(0)(v); return err }},
	{name: "file.delete.delay.ms", brokerKey: "log.segment.delete.delay.ms", def: "60000", typ: typLong,
		doc:   "accepted; no effect",
		apply: func(_ *TopicConfig, v string) error { _, err := parseLong(0)(v); return err }},
	{name: "preallocate", brokerKey: "log.preallocate", def: "false", typ: typBoolean,
		doc: "accepted; no effect", apply: oneOf("true", "false")},
}

func topicConfigDef(name string) (*configDef, bool) {
	for i := range topicConfigDefs {
		if topicConfigDefs[i].name == name {
			return &topicConfigDefs[i], true
		}
	}
	return nil, false
}

// invalidConfig returns an INVALID_CONFIG error naming the config.
func invalidConfig(name string, err error) error {
	return fmt.Errorf("%w: %s: %v", kerr.InvalidConfig, name, err)
}

// validateTopicConfigs checks topic overrides; every problem is reported.
func validateTopicConfigs(overrides map[string]string) error {
	var c TopicConfig
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := topicConfigDef(k)
		if !ok {
			return invalidConfig(k, fmt.Errorf("unknown topic config"))
		}
		if err := d.apply(&c, overrides[k]); err != nil {
			return invalidConfig(k, err)
		}
	}
	return nil
}

// topicConfigValue returns the effective value of a config and its source.
func (s *Server) topicConfigValue(d *configDef, overrides map[string]string) (string, kmsg.ConfigSource) {
	if v, ok := overrides[d.name]; ok {
		return v, srcTopic
	}
	if v, ok := s.cfg.Configs[d.brokerKey]; ok {
		return v, srcStaticBroker
	}
	return d.def, srcDefault
}

// resolveTopicConfig builds the effective config of a topic.
func (s *Server) resolveTopicConfig(overrides map[string]string) (TopicConfig, error) {
	var c TopicConfig
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		v, _ := s.topicConfigValue(d, overrides)
		if err := d.apply(&c, v); err != nil {
			return c, invalidConfig(d.name, err)
		}
	}
	return c, nil
}

// describeTopicConfigs renders a topic's configs for DescribeConfigs.
// keys limits the output (nil: all).
func (s *Server) describeTopicConfigs(overrides map[string]string, keys []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		if keys != nil && !contains(keys, d.name) {
			continue
		}
		v, src := s.topicConfigValue(d, overrides)
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name = d.name
		rc.Value = kmsg.StringPtr(v)
		rc.Source = src
		rc.IsDefault = src == srcDefault
		rc.ConfigType = d.typ
		if docs {
			rc.Documentation = kmsg.StringPtr(d.doc)
		}
		if synonyms {
			if ov, ok := overrides[d.name]; ok {
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(d.name, ov, srcTopic))
			}
			if bv, ok := s.cfg.Configs[d.brokerKey]; ok {
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(d.brokerKey, bv, srcStaticBroker))
			}
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, synonym(d.brokerKey, d.def, srcDefault))
		}
		out = append(out, rc)
	}
	return out
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, kmsg.StringPtr(value), src
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
