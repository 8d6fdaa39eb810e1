package connectors

import (
	"fmt"
	"log/slog"
	"strings"
)

// Printing configs: every String, LogValue and Summary shows secrets as
// `***` and DSNs with their password redacted (Secret and DSN redact
// themselves, so even %v of a whole struct is safe).

// String describes the broker, SASL password redacted.
func (b BrokerConfig) String() string {
	if b.Embedded != nil && b.Bootstrap == nil {
		return fmt.Sprintf("embedded, data_dir %s, listen %s", b.Embedded.DataDir, b.Embedded.Listen)
	}
	s := "bootstrap " + strings.Join(b.Bootstrap, ",")
	if b.TLS != nil {
		s += ", tls"
	}
	if b.SASL != nil {
		s += ", " + b.SASL.String()
	}
	return s
}

// String describes the SASL settings, password redacted.
func (s SASLConfig) String() string {
	return fmt.Sprintf("sasl %s user %s password %s", s.Mechanism, s.Username, s.Password)
}

// String describes the source, DSN password redacted.
func (s SourceConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, snapshot %s", s.Type, s.DSN, s.Snapshot)
	if s.DSN.File() != "" {
		fmt.Fprintf(&b, " (dsn from %s)", s.DSN.File())
	}
	switch s.Type {
	case SourcePostgres:
		fmt.Fprintf(&b, ", slot %s, publication %s", s.Slot, s.Publication)
	case SourceMySQL:
		if s.Flavor != "" {
			fmt.Fprintf(&b, ", flavor %s", s.Flavor)
		}
		if s.ServerID != 0 {
			fmt.Fprintf(&b, ", server_id %d", s.ServerID)
		}
	}
	if s.Partitions > 0 {
		fmt.Fprintf(&b, ", partitions %d", s.Partitions)
	}
	if s.ReplicationFactor > 0 {
		fmt.Fprintf(&b, ", replication_factor %d", s.ReplicationFactor)
	}
	return b.String()
}

// LogValue logs the source with its DSN redacted.
func (s SourceConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", s.Type), slog.Any("dsn", s.DSN), slog.Any("tables", s.Tables),
		slog.String("snapshot", s.Snapshot), slog.String("topic_prefix", s.TopicPrefix))
}

// String describes the sink, secrets redacted.
func (s SinkConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", s.Name, s.Type)
	switch {
	case s.Elasticsearch != nil:
		es := s.Elasticsearch
		fmt.Fprintf(&b, ": index %s at %s", es.Index, es.URL)
		if es.Username != "" {
			fmt.Fprintf(&b, ", user %s password %s", es.Username, es.Password)
		}
		if es.APIKey.IsSet() {
			fmt.Fprintf(&b, ", api_key %s", es.APIKey)
		}
	case s.Redis != nil:
		r := s.Redis
		addr := r.Addr
		if r.Addrs != nil {
			addr = "cluster " + strings.Join(r.Addrs, ",")
		}
		key := r.Key
		if key == "" {
			key = "<pipeline>:<table>:{key...}"
		}
		fmt.Fprintf(&b, ": %s, key %s, mode %s", addr, key, r.Mode)
		if r.TTL > 0 {
			fmt.Fprintf(&b, ", ttl %s", r.TTL)
		}
		if r.Password.IsSet() {
			fmt.Fprintf(&b, ", password %s", r.Password)
		}
	}
	dlq := s.DLQ.Topic
	if dlq == "" {
		dlq = "<topic>.dlq"
	}
	fmt.Fprintf(&b, "; topics %s, group %s, dlq %s", strings.Join(s.Topics, ","), s.Group, dlq)
	if s.Value == SinkValueDocument {
		b.WriteString(", value document")
	}
	return b.String()
}

// LogValue logs the sink with its secrets redacted.
func (s SinkConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("type", s.Type),
		slog.Any("topics", s.Topics), slog.String("group", s.Group), slog.String("summary", s.String()))
}

// String is the Summary.
func (c *Config) String() string { return c.Summary() }

// LogValue logs the shape of the file, without secrets.
func (c *Config) LogValue() slog.Value {
	names := make([]string, len(c.Pipelines))
	for i, p := range c.Pipelines {
		names[i] = p.Name
	}
	return slog.GroupValue(slog.String("broker", c.Broker.String()), slog.Any("pipelines", names))
}

// Summary describes a loaded file for people — broker, each pipeline's
// source, the topics it produces, transforms and sinks, then the totals —
// with secrets redacted.
func (c *Config) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "broker: %s\n", c.Broker)
	var sources, sinks int
	topics := map[string]bool{}
	for _, p := range c.Pipelines {
		fmt.Fprintf(&b, "pipeline %s:\n", p.Name)
		if s := p.Source; s != nil {
			sources++
			fmt.Fprintf(&b, "  source: %s\n", s)
			if len(s.Tables) > 0 {
				fmt.Fprintf(&b, "    tables: %s\n", strings.Join(s.Tables, ", "))
			}
			if o := s.Outbox; o != nil {
				if o.Table != "" {
					fmt.Fprintf(&b, "    outbox: table %s -> %s\n", o.Table, o.Topic)
				} else {
					fmt.Fprintf(&b, "    outbox: messages with prefix %s -> %s\n", o.Prefix, o.Topic)
				}
			}
			ts := p.Topics()
			for _, t := range ts {
				topics[t] = true
			}
			fmt.Fprintf(&b, "    produces: %s\n", strings.Join(ts, ", "))
		}
		if len(p.Transforms) > 0 {
			kinds := make([]string, len(p.Transforms))
			for i, t := range p.Transforms {
				kinds[i] = t.Type
			}
			fmt.Fprintf(&b, "  transforms: %s\n", strings.Join(kinds, ", "))
		}
		for _, s := range p.Sinks {
			sinks++
			fmt.Fprintf(&b, "  sink %s\n", s)
			for _, t := range s.Topics {
				topics[t] = true
			}
		}
	}
	fmt.Fprintf(&b, "%s, %s, %s, %s\n", plural(len(c.Pipelines), "pipeline"), plural(sources, "source"), plural(sinks, "sink"), plural(len(topics), "topic"))
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
