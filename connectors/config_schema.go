package connectors

import (
	"math"
	"slices"

	"go.yaml.in/yaml/v3"
)

// The strict schema walk: one function per block of the pipeline file.
// Each reports unknown keys and wrong kinds and keeps going, so one pass
// finds every problem.

var (
	topKeys       = []string{"version", "broker", "pipelines"}
	brokerKeys    = []string{"embedded", "bootstrap", "tls", "sasl"}
	embeddedKeys  = []string{"data_dir", "listen"}
	tlsKeys       = []string{"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"}
	saslKeys      = []string{"mechanism", "username", "password", "password_file"}
	pipelineKeys  = []string{"name", "source", "transforms", "sinks"}
	sourceKeys    = []string{"type", "dsn", "dsn_file", "tables", "snapshot", "topic_prefix", "partitions", "replication_factor", "outbox", "on_too_large", "dlq", "slot", "publication", "flavor", "server_id"}
	postgresKeys  = []string{"slot", "publication"}
	mysqlKeys     = []string{"flavor", "server_id"}
	outboxKeys    = []string{"table", "prefix", "topic", "columns", "cleanup", "clean_batch"}
	outboxColKeys = []string{"id", "aggregatetype", "aggregateid", "type", "payload", "headers"}
	sinkKeys      = []string{"name", "type", "topics", "group", "instance_id", "dlq", "value"}
	dlqKeys       = []string{"topic"}
	esKeys        = []string{"url", "index", "username", "password", "password_file", "api_key", "api_key_file", "ca_file", "insecure_skip_verify", "batch_size", "keep_indexes"}
	redisKeys     = []string{"addr", "addrs", "key", "mode", "ttl", "username", "password", "password_file", "db", "tls"}
	// transformKeys lists the keys each transform type takes besides type.
	transformKeys = map[string][]string{
		TransformFilter:       {"tables", "ops"},
		TransformDropFields:   {"table", "fields"},
		TransformMaskFields:   {"table", "fields"},
		TransformRenameFields: {"table", "fields"},
		TransformRoute:        {"tables", "topic"},
	}
)

func with(keys []string, more ...string) []string {
	return append(append([]string(nil), keys...), more...)
}

func (d *decoder) config(root *yaml.Node, c *Config) {
	entries, ok := d.mapping(root, "")
	if !ok {
		return
	}
	for _, e := range entries {
		switch e.key {
		case "version":
			if v, ok := d.integer(e.v, "version", math.MinInt32, math.MaxInt32); ok {
				c.Version = int(v)
			}
		case "broker":
			d.broker(e.v, "broker", &c.Broker)
		case "pipelines":
			nodes, ok := d.items(e.v, "pipelines")
			if !ok {
				continue
			}
			c.Pipelines = make([]PipelineConfig, len(nodes))
			for i, n := range nodes {
				d.pipeline(n, indexPath("pipelines", i), &c.Pipelines[i])
			}
		default:
			d.unknown(e, "", topKeys, "")
		}
	}
}

func (d *decoder) broker(n *yaml.Node, path string, b *BrokerConfig) {
	entries, ok := d.mapping(n, path)
	if !ok {
		return
	}
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch e.key {
		case "embedded":
			b.Embedded = &EmbeddedBroker{}
			es, ok := d.mapping(e.v, p)
			if !ok {
				continue
			}
			for _, f := range es {
				switch f.key {
				case "data_dir":
					d.str(f.v, joinPath(p, f.key), &b.Embedded.DataDir)
				case "listen":
					d.str(f.v, joinPath(p, f.key), &b.Embedded.Listen)
				default:
					d.unknown(f, p, embeddedKeys, "")
				}
			}
		case "bootstrap":
			b.Bootstrap = d.list(e.v, p)
			if b.Bootstrap == nil && isNull(e.v) {
				b.Bootstrap = []string{}
			}
		case "tls":
			b.TLS = d.tls(e.v, p)
		case "sasl":
			b.SASL = d.sasl(e.v, p)
		default:
			d.unknown(e, path, brokerKeys, "")
		}
	}
}

func (d *decoder) tls(n *yaml.Node, path string) *TLSConfig {
	t := &TLSConfig{}
	entries, _ := d.mapping(n, path)
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch e.key {
		case "ca_file":
			d.str(e.v, p, &t.CAFile)
		case "cert_file":
			d.str(e.v, p, &t.CertFile)
		case "key_file":
			d.str(e.v, p, &t.KeyFile)
		case "server_name":
			d.str(e.v, p, &t.ServerName)
		case "insecure_skip_verify":
			d.boolean(e.v, p, &t.InsecureSkipVerify)
		default:
			d.unknown(e, path, tlsKeys, "")
		}
	}
	return t
}

func (d *decoder) sasl(n *yaml.Node, path string) *SASLConfig {
	s := &SASLConfig{}
	entries, _ := d.mapping(n, path)
	var pw secretPair
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch e.key {
		case "mechanism":
			d.str(e.v, p, &s.Mechanism)
		case "username":
			d.str(e.v, p, &s.Username)
		case "password":
			pw.inline = &e
		case "password_file":
			pw.file = &e
		default:
			d.unknown(e, path, saslKeys, "")
		}
	}
	s.Password = d.secret(pw, path, "password")
	return s
}

func (d *decoder) pipeline(n *yaml.Node, path string, pc *PipelineConfig) {
	entries, ok := d.mapping(n, path)
	if !ok {
		return
	}
	// The name first: nothing else depends on it while decoding, but a
	// source's type decides which keys it takes.
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch e.key {
		case "name":
			d.str(e.v, p, &pc.Name)
		case "source":
			pc.Source = &SourceConfig{}
			d.source(e.v, p, pc.Source)
		case "transforms":
			nodes, ok := d.items(e.v, p)
			if !ok {
				continue
			}
			pc.Transforms = make([]TransformConfig, len(nodes))
			for i, tn := range nodes {
				d.transform(tn, indexPath(p, i), &pc.Transforms[i])
			}
		case "sinks":
			nodes, ok := d.items(e.v, p)
			if !ok {
				continue
			}
			pc.Sinks = make([]SinkConfig, len(nodes))
			for i, sn := range nodes {
				d.sink(sn, indexPath(p, i), &pc.Sinks[i])
			}
		default:
			d.unknown(e, path, pipelineKeys, "")
		}
	}
}

// typeOf decodes the `type` entry of a block first, so the other keys can
// be checked against it.
func (d *decoder) typeOf(entries []entry, path string) string {
	for _, e := range entries {
		if e.key == "type" {
			var t string
			d.str(e.v, joinPath(path, "type"), &t)
			return t
		}
	}
	return ""
}

func (d *decoder) source(n *yaml.Node, path string, s *SourceConfig) {
	entries, ok := d.mapping(n, path)
	if !ok {
		return
	}
	s.Type = d.typeOf(entries, path)
	var dsn, dsnFile *entry
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch {
		case e.key == "type":
		case e.key == "dsn":
			dsn = &e
		case e.key == "dsn_file":
			dsnFile = &e
		case e.key == "tables":
			s.Tables = d.list(e.v, p)
		case e.key == "snapshot":
			d.str(e.v, p, &s.Snapshot)
		case e.key == "topic_prefix":
			d.str(e.v, p, &s.TopicPrefix)
		case e.key == "partitions":
			if v, ok := d.integer(e.v, p, 1, math.MaxInt32); ok {
				s.Partitions = int32(v)
			}
		case e.key == "replication_factor":
			if v, ok := d.integer(e.v, p, 1, math.MaxInt16); ok {
				s.ReplicationFactor = int16(v)
			}
		case e.key == "outbox":
			s.Outbox = d.outbox(e.v, p)
		case e.key == "on_too_large":
			d.str(e.v, p, &s.OnTooLarge)
		case e.key == "dlq":
			dl, _ := d.mapping(e.v, p)
			for _, f := range dl {
				if f.key == "topic" {
					d.str(f.v, joinPath(p, f.key), &s.DLQ.Topic)
				} else {
					d.unknown(f, p, dlqKeys, "")
				}
			}
		case slices.Contains(postgresKeys, e.key) && s.Type != SourceMySQL:
			if e.key == "slot" {
				d.str(e.v, p, &s.Slot)
			} else {
				d.str(e.v, p, &s.Publication)
			}
		case e.key == "flavor" && s.Type != SourcePostgres:
			d.str(e.v, p, &s.Flavor)
		case e.key == "server_id" && s.Type != SourcePostgres:
			if v, ok := d.integer(e.v, p, 1, math.MaxUint32); ok {
				s.ServerID = uint32(v)
			}
		case slices.Contains(postgresKeys, e.key):
			d.unknown(e, path, sourceKeys, "a postgres field; this source is mysql")
		case slices.Contains(mysqlKeys, e.key):
			d.unknown(e, path, sourceKeys, "a mysql field; this source is postgres")
		default:
			d.unknown(e, path, sourceKeys, "")
		}
	}
	switch {
	case dsn != nil && dsnFile != nil:
		d.fail(dsnFile.k, joinPath(path, "dsn_file"), ErrConflict, "set dsn or dsn_file, not both")
	case dsn != nil:
		v, _ := d.scalar(dsn.v, joinPath(path, "dsn"))
		s.DSN = DSN{value: v}
	case dsnFile != nil:
		v, f, _ := d.secretFile(dsnFile.v, joinPath(path, "dsn_file"))
		s.DSN = DSN{value: v, file: f}
	}
}

func (d *decoder) outbox(n *yaml.Node, path string) *OutboxConfig {
	o := &OutboxConfig{}
	entries, _ := d.mapping(n, path)
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch e.key {
		case "table":
			d.str(e.v, p, &o.Table)
		case "prefix":
			d.str(e.v, p, &o.Prefix)
		case "topic":
			d.str(e.v, p, &o.Topic)
		case "cleanup":
			d.boolean(e.v, p, &o.Cleanup)
		case "clean_batch":
			if n, ok := d.integer(e.v, p, 1, 10000); ok {
				o.CleanBatch = int(n)
			}
		case "columns":
			cols, _ := d.mapping(e.v, p)
			c := &o.Columns
			for _, f := range cols {
				fp := joinPath(p, f.key)
				switch f.key {
				case "id":
					d.str(f.v, fp, &c.ID)
				case "aggregatetype":
					d.str(f.v, fp, &c.AggregateType)
				case "aggregateid":
					d.str(f.v, fp, &c.AggregateID)
				case "type":
					d.str(f.v, fp, &c.Type)
				case "payload":
					d.str(f.v, fp, &c.Payload)
				case "headers":
					d.str(f.v, fp, &c.Headers)
				default:
					d.unknown(f, p, outboxColKeys, "")
				}
			}
		default:
			d.unknown(e, path, outboxKeys, "")
		}
	}
	return o
}

func (d *decoder) transform(n *yaml.Node, path string, t *TransformConfig) {
	entries, ok := d.mapping(n, path)
	if !ok {
		return
	}
	t.Type = d.typeOf(entries, path)
	allowed, known := transformKeys[t.Type]
	for _, e := range entries {
		p := joinPath(path, e.key)
		if e.key == "type" {
			continue
		}
		if known && !slices.Contains(allowed, e.key) {
			d.unknown(e, path, with([]string{"type"}, allowed...), "")
			continue
		}
		switch e.key {
		case "tables":
			t.Tables = d.list(e.v, p)
		case "table":
			d.str(e.v, p, &t.Table)
		case "topic":
			d.str(e.v, p, &t.Topic)
		case "ops":
			for _, op := range d.list(e.v, p) {
				t.Ops = append(t.Ops, Op(op))
			}
			if t.Ops == nil && !d.m.failed[p] {
				t.Ops = []Op{}
			}
		case "fields":
			if t.Type == TransformRenameFields {
				t.Rename = d.renames(e.v, p)
			} else {
				t.Fields = d.list(e.v, p)
			}
		default:
			if !known {
				continue // the type is wrong; validation names it
			}
			d.unknown(e, path, with([]string{"type"}, allowed...), "")
		}
	}
}

func (d *decoder) renames(n *yaml.Node, path string) map[string]string {
	entries, ok := d.mapping(n, path)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		var v string
		d.str(e.v, joinPath(path, e.key), &v)
		out[e.key] = v
	}
	return out
}

func (d *decoder) sink(n *yaml.Node, path string, s *SinkConfig) {
	entries, ok := d.mapping(n, path)
	if !ok {
		return
	}
	s.Type = d.typeOf(entries, path)
	var pw, apiKey secretPair
	switch s.Type {
	case SinkElasticsearch:
		s.Elasticsearch = &ElasticsearchConfig{}
	case SinkRedis:
		s.Redis = &RedisConfig{}
	}
	es, rd := s.Elasticsearch, s.Redis
	for _, e := range entries {
		p := joinPath(path, e.key)
		switch {
		case e.key == "type":
		case e.key == "name":
			d.str(e.v, p, &s.Name)
		case e.key == "topics":
			s.Topics = d.list(e.v, p)
			if s.Topics == nil && !d.m.failed[p] {
				s.Topics = []string{}
			}
		case e.key == "group":
			d.str(e.v, p, &s.Group)
		case e.key == "instance_id":
			d.str(e.v, p, &s.InstanceID)
		case e.key == "value":
			d.str(e.v, p, &s.Value)
		case e.key == "dlq":
			dl, _ := d.mapping(e.v, p)
			for _, f := range dl {
				if f.key == "topic" {
					d.str(f.v, joinPath(p, f.key), &s.DLQ.Topic)
				} else {
					d.unknown(f, p, dlqKeys, "")
				}
			}
		case e.key == "password" && (es != nil || rd != nil):
			pw.inline = &e
		case e.key == "password_file" && (es != nil || rd != nil):
			pw.file = &e
		case e.key == "username" && es != nil:
			d.str(e.v, p, &es.Username)
		case e.key == "username" && rd != nil:
			d.str(e.v, p, &rd.Username)
		case es != nil && slices.Contains(esKeys, e.key):
			d.esField(e, p, es, &apiKey)
		case rd != nil && slices.Contains(redisKeys, e.key):
			d.redisField(e, p, rd)
		case es != nil && slices.Contains(redisKeys, e.key):
			d.unknown(e, path, with(sinkKeys, esKeys...), "a redis field; this sink is elasticsearch")
		case rd != nil && slices.Contains(esKeys, e.key):
			d.unknown(e, path, with(sinkKeys, redisKeys...), "an elasticsearch field; this sink is redis")
		case es == nil && rd == nil && (slices.Contains(esKeys, e.key) || slices.Contains(redisKeys, e.key)):
			// The type is missing or wrong; validation names it.
		default:
			allowed := sinkKeys
			switch {
			case es != nil:
				allowed = with(sinkKeys, esKeys...)
			case rd != nil:
				allowed = with(sinkKeys, redisKeys...)
			}
			d.unknown(e, path, allowed, "")
		}
	}
	switch {
	case es != nil:
		es.Password = d.secret(pw, path, "password")
		es.APIKey = d.secret(apiKey, path, "api_key")
	case rd != nil:
		rd.Password = d.secret(pw, path, "password")
	}
}

func (d *decoder) esField(e entry, p string, es *ElasticsearchConfig, apiKey *secretPair) {
	switch e.key {
	case "url":
		var u string
		d.str(e.v, p, &u)
		es.URL = DSN{value: u}
	case "index":
		d.str(e.v, p, &es.Index)
	case "api_key":
		apiKey.inline = &e
	case "api_key_file":
		apiKey.file = &e
	case "ca_file":
		d.str(e.v, p, &es.CAFile)
	case "insecure_skip_verify":
		d.boolean(e.v, p, &es.InsecureSkipVerify)
	case "batch_size":
		if v, ok := d.integer(e.v, p, 1, 1_000_000); ok {
			es.BatchSize = int(v)
		}
	case "keep_indexes":
		if v, ok := d.integer(e.v, p, 0, 1000); ok {
			es.KeepIndexes = int(v)
		}
	}
}

func (d *decoder) redisField(e entry, p string, r *RedisConfig) {
	switch e.key {
	case "addr":
		d.str(e.v, p, &r.Addr)
	case "addrs":
		r.Addrs = d.list(e.v, p)
	case "key":
		d.str(e.v, p, &r.Key)
	case "mode":
		d.str(e.v, p, &r.Mode)
	case "ttl":
		d.duration(e.v, p, &r.TTL)
	case "db":
		if v, ok := d.integer(e.v, p, 0, math.MaxInt32); ok {
			r.DB = int(v)
		}
	case "tls":
		r.TLS = d.tls(e.v, p)
	}
}
