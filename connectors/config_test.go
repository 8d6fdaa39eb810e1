package connectors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLoader resolves variables from env and *_file reads from files only.
func testLoader(env, files map[string]string) Loader {
	return Loader{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ReadFile: func(name string) ([]byte, error) {
			if v, ok := files[name]; ok {
				return []byte(v), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

// okSink is a valid sink line for cases that need a pipeline to exist.
const okSink = `    sinks: [{name: a, type: redis, addr: "h:1", topics: [t]}]
`

func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		env  map[string]string
		want []string // every line of the error, in order
		kind error    // errors.Is must hold for this sentinel
	}{
		{
			name: "unknown top-level field",
			in:   "version: 1\npipelnes: []\n",
			want: []string{
				`p.yaml:1:1: pipelines: required (at least one pipeline)`,
				`p.yaml:2:1: pipelnes: unknown field (did you mean "pipelines"?)`,
			},
			kind: ErrUnknownField,
		},
		{
			name: "unknown field without near match lists the allowed ones",
			in:   "version: 1\npipelines:\n  - name: s\n    frobnicate: 1\n" + okSink,
			want: []string{`p.yaml:4:5: pipelines[0].frobnicate: unknown field (want one of: name, source, transforms, sinks)`},
			kind: ErrUnknownField,
		},
		{
			name: "missing version",
			in:   "pipelines:\n  - name: s\n" + okSink,
			want: []string{`p.yaml:1:1: version: required (this sluice reads version: 1)`},
			kind: ErrRequired,
		},
		{
			name: "unsupported version",
			in:   "version: 2\npipelines:\n  - name: s\n" + okSink,
			want: []string{`p.yaml:1:10: version: unsupported version 2 (this sluice reads version: 1)`},
			kind: ErrInvalid,
		},
		{
			name: "version not a number",
			in:   "version: one\npipelines:\n  - name: s\n" + okSink,
			want: []string{`p.yaml:1:10: version: want a whole number from -2147483648 to 2147483647, got "one"`},
			kind: ErrInvalid,
		},
		{
			name: "bad pipeline name",
			in:   "version: 1\npipelines:\n  - name: Shop\n" + okSink,
			want: []string{`p.yaml:3:11: pipelines[0].name: "Shop" must match [a-z0-9][a-z0-9_-]*`},
			kind: ErrInvalid,
		},
		{
			name: "missing pipeline name",
			in:   "version: 1\npipelines:\n  - sinks: [{name: a, type: redis, addr: \"h:1\", topics: [t]}]\n",
			want: []string{`p.yaml:3:5: pipelines[0].name: required`},
			kind: ErrRequired,
		},
		{
			name: "duplicate pipeline names",
			in:   "version: 1\npipelines:\n  - name: shop\n" + okSink + "  - name: shop\n    sinks: [{name: b, type: redis, addr: \"h:1\", topics: [t]}]\n",
			want: []string{`p.yaml:5:11: pipelines[1].name: duplicate pipeline name "shop" (first at 3:11)`},
			kind: ErrDuplicate,
		},
		{
			name: "duplicate sink names and default groups",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - {name: a, type: redis, addr: \"h:1\", topics: [t]}\n      - {name: a, type: redis, addr: \"h:1\", topics: [u]}\n",
			want: []string{
				`p.yaml:6:9: pipelines[0].sinks[1].group: consumer group "sluice.s.a" is also the group of pipelines[0].sinks[0] (at 5:9); two sinks in one group would split its partitions`,
				`p.yaml:6:16: pipelines[0].sinks[1].name: duplicate sink name "a" in this pipeline (first at 5:16)`,
			},
			kind: ErrDuplicate,
		},
		{
			name: "embedded and bootstrap",
			in:   "version: 1\nbroker:\n  embedded: {data_dir: /d}\n  bootstrap: [k1:9092]\npipelines:\n  - name: s\n" + okSink,
			want: []string{`p.yaml:4:14: broker.bootstrap: set embedded or bootstrap, not both`},
			kind: ErrConflict,
		},
		{
			name: "tls and sasl need bootstrap; sasl fields",
			in:   "version: 1\nbroker:\n  tls: {cert_file: c.pem}\n  sasl: {mechanism: GSSAPI}\npipelines:\n  - name: s\n" + okSink,
			want: []string{
				`p.yaml:3:8: broker.tls: applies to bootstrap only (the embedded broker listens in plaintext)`,
				`p.yaml:3:8: broker.tls.key_file: required: cert_file and key_file go together`,
				`p.yaml:4:9: broker.sasl: applies to bootstrap only (the embedded broker has no SASL)`,
				`p.yaml:4:9: broker.sasl.username: required`,
				`p.yaml:4:9: broker.sasl.password: required (or password_file)`,
				`p.yaml:4:21: broker.sasl.mechanism: "GSSAPI" is not one of: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
			},
			kind: ErrConflict,
		},
		{
			name: "bad listen address",
			in:   "version: 1\nbroker:\n  embedded: {listen: \"localhost\"}\npipelines:\n  - name: s\n" + okSink,
			want: []string{`p.yaml:3:22: broker.embedded.listen: "localhost" is not host:port`},
			kind: ErrInvalid,
		},
		{
			name: "bad bootstrap address",
			in:   "version: 1\nbroker:\n  bootstrap: [kafka-1, \"k:0\"]\npipelines:\n  - name: s\n" + okSink,
			want: []string{
				`p.yaml:3:15: broker.bootstrap[0]: "kafka-1" is not host:port`,
				`p.yaml:3:24: broker.bootstrap[1]: "k:0": port must be 1-65535`,
			},
			kind: ErrInvalid,
		},
		{
			name: "unset variable",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: postgres, dsn: \"${PG_DSN}\", tables: [public.a]}\n",
			want: []string{`p.yaml:4:36: pipelines[0].source.dsn: environment variable PG_DSN is not set and ${PG_DSN} has no default`},
			kind: ErrUnsetVar,
		},
		{
			name: "unset variable in a plain scalar names its column",
			in:   "version: 1\npipelines:\n  - name: s\n    source:\n      type: postgres\n      dsn: host=${PGHOST} user=${PGUSER:-sluice} password=${PGPASSWORD}\n      tables: [public.a]\n",
			want: []string{
				`p.yaml:6:17: pipelines[0].source.dsn: environment variable PGHOST is not set and ${PGHOST} has no default`,
				`p.yaml:6:59: pipelines[0].source.dsn: environment variable PGPASSWORD is not set and ${PGPASSWORD} has no default`,
			},
			kind: ErrUnsetVar,
		},
		{
			// Quoted scalars without escapes name the reference's column;
			// with escapes ('' here), the scalar's.
			name: "unset variables in quoted scalars",
			in:   "version: 1\npipelines:\n  - name: s\n    source:\n      type: postgres\n      dsn: 'host=${H} x=''${Q}'''\n      tables: [\"public.${T}\"]\n      topic_prefix: 'a${P}'\n",
			want: []string{
				`p.yaml:6:12: pipelines[0].source.dsn: environment variable H is not set and ${H} has no default`,
				`p.yaml:6:12: pipelines[0].source.dsn: environment variable Q is not set and ${Q} has no default`,
				`p.yaml:7:24: pipelines[0].source.tables[0]: environment variable T is not set and ${T} has no default`,
				`p.yaml:8:23: pipelines[0].source.topic_prefix: environment variable P is not set and ${P} has no default`,
			},
			kind: ErrUnsetVar,
		},
		{
			name: "bad snapshot mode",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: mysql, dsn: \"u:p@tcp(h:3306)/d\", tables: [d.a], snapshot: always}\n",
			want: []string{`p.yaml:4:78: pipelines[0].source.snapshot: "always" is not one of: initial, never, when_needed, initial_only`},
			kind: ErrInvalid,
		},
		{
			name: "bad on_too_large",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: mysql, dsn: \"u:p@tcp(h:3306)/d\", tables: [d.a], on_too_large: skip}\n",
			want: []string{`p.yaml:4:82: pipelines[0].source.on_too_large: "skip" is not one of: stop, dlq`},
			kind: ErrInvalid,
		},
		{
			name: "bad sink value",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - name: a\n        type: redis\n        addr: h:1\n        topics: [t]\n        value: raw\n",
			want: []string{`p.yaml:9:16: pipelines[0].sinks[0].value: "raw" is not one of: envelope, document`},
			kind: ErrInvalid,
		},
		{
			name: "empty topics",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - name: a\n        type: redis\n        addr: h:1\n        topics: []\n",
			want: []string{`p.yaml:8:17: pipelines[0].sinks[0].topics: required (a non-empty list)`},
			kind: ErrRequired,
		},
		{
			name: "missing topics and index",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - name: search\n        type: elasticsearch\n        url: http://e:9200\n",
			want: []string{
				`p.yaml:5:9: pipelines[0].sinks[0].topics: required (a non-empty list)`,
				`p.yaml:5:9: pipelines[0].sinks[0].index: required`,
			},
			kind: ErrRequired,
		},
		{
			name: "bad op and transform table not in source",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: postgres, dsn: \"host=h\", tables: [public.a]}\n    transforms:\n      - {type: filter, tables: [public.b], ops: [c, x]}\n",
			want: []string{
				`p.yaml:6:33: pipelines[0].transforms[0].tables[0]: "public.b" is not among the source's tables`,
				`p.yaml:6:53: pipelines[0].transforms[0].ops[1]: "x" is not an op; want r, c, u, d or t`,
			},
			kind: ErrInvalid,
		},
		{
			name: "transform fields of the wrong type and an unknown transform",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: postgres, dsn: \"host=h\", tables: [public.a]}\n    transforms:\n      - {type: drop_fields, table: public.a, fields: [x], topic: t}\n      - {type: explode}\n      - {type: rename_fields, table: public.a, fields: {a: c, b: c}}\n",
			want: []string{
				`p.yaml:6:59: pipelines[0].transforms[0].topic: unknown field (want one of: type, table, fields)`,
				`p.yaml:7:16: pipelines[0].transforms[1].type: "explode" is not one of: filter, drop_fields, mask_fields, rename_fields, route`,
				`p.yaml:8:66: pipelines[0].transforms[2].fields.b: "a" and "b" would both become "c"`,
			},
			kind: ErrUnknownField,
		},
		{
			name: "transforms without a source",
			in:   "version: 1\npipelines:\n  - name: s\n    transforms: [{type: route, tables: [public.a], topic: x}]\n" + okSink,
			want: []string{`p.yaml:4:17: pipelines[0].transforms: transforms run on a source's records; this pipeline has no source`},
			kind: ErrConflict,
		},
		{
			name: "neither source nor sinks",
			in:   "version: 1\npipelines:\n  - name: s\n",
			want: []string{`p.yaml:3:5: pipelines[0]: a pipeline needs a source, sinks, or both`},
			kind: ErrRequired,
		},
		{
			name: "redis key template and type-specific fields",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - name: c\n        type: redis\n        addr: h:1\n        topics: [t]\n        key: \"c:{id\"\n        index: x\n        mode: list\n",
			want: []string{
				`p.yaml:9:14: pipelines[0].sinks[0].key: key template "c:{id": placeholder at offset 2 is not closed`,
				`p.yaml:10:9: pipelines[0].sinks[0].index: unknown field (an elasticsearch field; this sink is redis)`,
				`p.yaml:11:15: pipelines[0].sinks[0].mode: "list" is not one of: string, hash`,
			},
			kind: ErrInvalid,
		},
		{
			name: "redis key template without placeholder, addr and addrs, negative ttl",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - {name: c, type: redis, addr: \"h:1\", addrs: [\"h:2\"], topics: [t], key: fixed, ttl: -1s, db: 2}\n",
			want: []string{
				`p.yaml:5:52: pipelines[0].sinks[0].addrs: set addr or addrs, not both`,
				`p.yaml:5:79: pipelines[0].sinks[0].key: key template "fixed" has no {column} placeholder: every row would share one key`,
				`p.yaml:5:91: pipelines[0].sinks[0].ttl: must not be negative`,
				`p.yaml:5:100: pipelines[0].sinks[0].db: Redis Cluster has only database 0`,
			},
			kind: ErrConflict,
		},
		{
			name: "source type fields and mysql dsn",
			in:   "version: 1\npipelines:\n  - name: s\n    source:\n      type: mysql\n      dsn: \"u:p@tcp(h:3306)\"\n      tables: [a]\n      slot: x\n      flavor: percona\n",
			want: []string{
				`p.yaml:6:12: pipelines[0].source.dsn: want a MySQL DSN like user:pass@tcp(host:3306)/db`,
				`p.yaml:7:16: pipelines[0].source.tables[0]: "a": want database.table`,
				`p.yaml:8:7: pipelines[0].source.slot: unknown field (a postgres field; this source is mysql)`,
				`p.yaml:9:15: pipelines[0].source.flavor: "percona" is not one of: mysql, mariadb`,
			},
			kind: ErrUnknownField,
		},
		{
			name: "postgres slot too long and outbox rules",
			in: "version: 1\npipelines:\n  - name: s\n    source:\n      type: postgres\n      dsn: postgres://h/db\n      tables: [public.a, public.outbox]\n      slot: " + strings.Repeat("x", 64) +
				"\n      outbox: {table: public.outbox, prefix: p, topic: \"events.{aggregateid}\"}\n",
			want: []string{
				`p.yaml:8:13: pipelines[0].source.slot: "` + strings.Repeat("x", 64) + `" is longer than 63 characters; set a shorter slot`,
				`p.yaml:9:23: pipelines[0].source.outbox.table: "public.outbox" is also in tables; the outbox table gets no changelog topic`,
				`p.yaml:9:46: pipelines[0].source.outbox.prefix: set table or prefix, not both`,
				`p.yaml:9:56: pipelines[0].source.outbox.topic: placeholder {aggregateid}: only {aggregatetype} and {type} are known`,
			},
			kind: ErrConflict,
		},
		{
			name: "outbox cleanup needs an outbox table",
			in: "version: 1\npipelines:\n  - name: s\n    source:\n      type: postgres\n      dsn: postgres://h/db\n" +
				"      outbox: {prefix: p, cleanup: true}\n  - name: t\n    source:\n      type: postgres\n      dsn: postgres://h/db\n" +
				"      outbox: {table: public.outbox, cleanup: true, clean_batch: 0}\n",
			want: []string{
				`p.yaml:7:36: pipelines[0].source.outbox.cleanup: cleanup deletes rows of an outbox table; messages (prefix) leave nothing to delete`,
				`p.yaml:12:66: pipelines[1].source.outbox.clean_batch: want a whole number from 1 to 10000, got "0"`,
			},
			kind: ErrConflict,
		},
		{
			name: "wrong kinds",
			in:   "version: 1\nbroker: [a]\npipelines:\n  - name: [x]\n    sinks: {name: a}\n",
			want: []string{
				`p.yaml:2:9: broker: want a mapping, got a list`,
				`p.yaml:4:11: pipelines[0].name: want a single value, got a list`,
				`p.yaml:5:12: pipelines[0].sinks: want a list, got a mapping`,
			},
			kind: ErrInvalid,
		},
		{
			name: "duplicate key",
			in:   "version: 1\nversion: 1\npipelines:\n  - name: s\n" + okSink,
			want: []string{`p.yaml:2:1: version: duplicate key (first at 1:1)`},
			kind: ErrDuplicate,
		},
		{
			name: "yaml syntax",
			in:   "version: 1\npipelines: [\n",
			want: []string{`p.yaml:2:1: yaml: did not find expected node content`},
			kind: ErrSyntax,
		},
		{
			name: "two documents",
			in:   "version: 1\n---\nversion: 1\n",
			want: []string{`p.yaml:2:1: a pipeline file holds one YAML document; found another`},
			kind: ErrSyntax,
		},
		{
			name: "empty file",
			in:   "",
			want: []string{
				`p.yaml:1:1: version: required (this sluice reads version: 1)`,
				`p.yaml:1:1: pipelines: required (at least one pipeline)`,
			},
			kind: ErrRequired,
		},
		{
			name: "missing password file",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks: [{name: a, type: redis, addr: \"h:1\", topics: [t], password_file: /run/secrets/redis}]\n",
			want: []string{`p.yaml:4:77: pipelines[0].sinks[0].password_file: reading /run/secrets/redis: file does not exist`},
			kind: ErrSecretFile,
		},
		{
			name: "elasticsearch url, index, auth",
			in:   "version: 1\npipelines:\n  - name: s\n    sinks:\n      - {name: e, type: elasticsearch, url: \"ftp://e\", index: Orders, topics: [t], username: u, api_key: k, dlq: {topic: t}}\n",
			want: []string{
				`p.yaml:5:9: pipelines[0].sinks[0].password: required with username (or password_file)`,
				`p.yaml:5:45: pipelines[0].sinks[0].url: want http(s)://host:port`,
				`p.yaml:5:63: pipelines[0].sinks[0].index: "Orders" must be lowercase`,
				`p.yaml:5:106: pipelines[0].sinks[0].api_key: set api_key or username/password, not both`,
				`p.yaml:5:122: pipelines[0].sinks[0].dlq.topic: "t" is also one of the sink's topics: rejected records would come back`,
			},
			kind: ErrConflict,
		},
		{
			name: "bad topic names",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: postgres, dsn: \"host=h\", tables: [public.a$b], topic_prefix: \"my prefix\"}\n    sinks: [{name: a, type: redis, addr: \"h:1\", topics: [\"a/b\", ok, ok]}]\n",
			want: []string{
				`p.yaml:4:81: pipelines[0].source.topic_prefix: topic "my prefix" holds " "; Kafka allows only [a-zA-Z0-9._-]`,
				`p.yaml:5:58: pipelines[0].sinks[0].topics[0]: topic "a/b" holds "/"; Kafka allows only [a-zA-Z0-9._-]`,
				`p.yaml:5:69: pipelines[0].sinks[0].topics[2]: "ok" is listed twice`,
			},
			kind: ErrInvalid,
		},
		{
			name: "derived changelog topic",
			in:   "version: 1\npipelines:\n  - name: s\n    source: {type: postgres, dsn: \"host=h\", tables: [public.a$b]}\n",
			want: []string{`p.yaml:4:54: pipelines[0].source.tables[0]: its changelog topic "s.public.a$b" holds "$"; Kafka allows only [a-zA-Z0-9._-]`},
			kind: ErrInvalid,
		},
		{
			name: "bad interpolation syntax",
			in:   "version: 1\npipelines:\n  - name: ${NAME:?missing}\n" + okSink,
			want: []string{`p.yaml:3:11: pipelines[0].name: ${NAME:?missing}: only ${VAR} and ${VAR:-default} are supported`},
			kind: ErrInvalid,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := testLoader(tc.env, nil).Parse("p.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("loaded without error: %v", c)
			}
			if c != nil {
				t.Errorf("a config came back with the error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if !errors.Is(err, ErrConfig) || !errors.Is(err, tc.kind) {
				t.Errorf("errors.Is(err, ErrConfig/%v) false", tc.kind)
			}
			if n := len(FieldErrors(err)); n != len(got) {
				t.Errorf("FieldErrors: %d, want %d", n, len(got))
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	in := `version: 1
pipelines:
  - name: my-shop
    source:
      type: postgres
      dsn: host=h
      outbox: {table: public.outbox}
    sinks:
      - {name: c, type: redis, addr: "h:1", topics: [t]}
      - {name: e, type: elasticsearch, url: "http://h:9200", index: i, topics: [t], group: custom}
`
	c, err := testLoader(nil, nil).Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testLoader(nil, nil).Parse("p.yaml", []byte(strings.Replace(in, "version: 1\n", "version: 1\nbroker: {embedded: {listen: \":9092\"}}\n", 1))); err != nil {
		t.Errorf("listen :9092 (every interface): %v", err)
	}
	if e := c.Broker.Embedded; e == nil || e.DataDir != "./data" || e.Listen != "127.0.0.1:9092" || c.Broker.Bootstrap != nil {
		t.Errorf("broker %+v, want embedded ./data 127.0.0.1:9092", c.Broker)
	}
	p := c.Pipelines[0]
	s := p.Source
	for _, f := range []struct{ name, got, want string }{
		{"snapshot", s.Snapshot, "initial"},
		{"topic_prefix", s.TopicPrefix, "my-shop"},
		{"slot", s.Slot, "sluice_my_shop"},
		{"publication", s.Publication, "sluice_my_shop"},
		{"outbox topic", s.Outbox.Topic, "outbox.event.{aggregatetype}"},
		{"outbox payload column", s.Outbox.Columns.Payload, "payload"},
		{"sink group", p.Sinks[0].Group, "sluice.my-shop.c"},
		{"explicit group", p.Sinks[1].Group, "custom"},
		{"redis mode", p.Sinks[0].Redis.Mode, "string"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if es := p.Sinks[1].Elasticsearch; es.BatchSize != DefaultESBatchSize || es.KeepIndexes != 0 {
		t.Errorf("es defaults %+v", es)
	}
	if got := p.Topics(); strings.Join(got, ",") != "outbox.event.{aggregatetype}" {
		t.Errorf("Topics() = %q", got)
	}
	// Defaults is idempotent and Validate agrees with Load.
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
}

func TestLoadBootstrap(t *testing.T) {
	t.Parallel()
	in := `version: 1
broker:
  bootstrap: ["${K1:-kafka-1:9092}", "kafka-2:9092"]
  tls: {ca_file: ca.pem}
  sasl: {mechanism: SCRAM-SHA-512, username: sluice, password_file: /s/pw}
pipelines:
  - name: s
    sinks: [{name: a, type: redis, addrs: ["r1:7000", "r2:7000"], topics: [t], ttl: 90s}]
`
	c, err := testLoader(nil, map[string]string{"/s/pw": "pa55\n"}).Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Broker.Embedded != nil {
		t.Errorf("embedded set with bootstrap")
	}
	kc := c.Broker.Kafka()
	if strings.Join(kc.Brokers, ",") != "kafka-1:9092,kafka-2:9092" || !kc.TLS.Enable || kc.TLS.CAFile != "ca.pem" ||
		kc.SASL.Mechanism != "SCRAM-SHA-512" || kc.SASL.Password != "pa55" {
		t.Errorf("Kafka() = %+v", kc)
	}
	if c.Broker.SASL.Password.File() != "/s/pw" {
		t.Errorf("password file %q", c.Broker.SASL.Password.File())
	}
	if r := c.Pipelines[0].Sinks[0].Redis; r.TTL != 90*time.Second || len(r.Addrs) != 2 {
		t.Errorf("redis %+v", r)
	}
}

func TestTransformSpec(t *testing.T) {
	t.Parallel()
	in := `version: 1
pipelines:
  - name: s
    source: {type: mysql, dsn: "u:p@tcp(h:3306)/d", tables: [d.a, d.b]}
    transforms:
      - {type: filter, ops: [c, u]}
      - {type: rename_fields, table: d.a, fields: {x: y}}
      - {type: route, tables: [d.b], topic: all-b}
`
	c, err := testLoader(nil, nil).Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pipelines[0]
	for _, tr := range p.Transforms {
		if err := tr.Spec().validate(); err != nil {
			t.Errorf("runtime rejects %+v: %v", tr, err)
		}
	}
	if got := strings.Join(p.Topics(), ","); got != "s.d.a,all-b" {
		t.Errorf("Topics() = %s", got)
	}
}

// TestValidateInCode checks Validate on a config built without a file:
// messages carry the path only.
func TestValidateInCode(t *testing.T) {
	t.Parallel()
	c := &Config{Version: 1, Pipelines: []PipelineConfig{{Name: "x", Sinks: []SinkConfig{{Name: "a", Type: SinkRedis, Redis: &RedisConfig{}}}}}}
	c.Defaults()
	err := c.Validate()
	want := "pipelines[0].sinks[0].topics: required (a non-empty list)\npipelines[0].sinks[0].addr: required (or addrs, for Redis Cluster)"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want\n%s", err, want)
	}
}

// TestConfigsValidate loads every example pipeline with no variable set.
func TestConfigsValidate(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../configs/*.y*ml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d files in configs/, want the demo and the smaller examples", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			c, err := testLoader(nil, nil).Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(c.Summary(), "pipeline") {
				t.Errorf("summary %q", c.Summary())
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}

func TestAliasesAndMerge(t *testing.T) {
	t.Parallel()
	in := `version: 1
x-redis: &redis {type: redis, addr: "h:1", mode: hash}
pipelines:
  - name: s
    sinks:
      - {<<: *redis, name: a, topics: [t]}
      - {<<: *redis, name: b, topics: [u], mode: string}
`
	_, err := testLoader(nil, nil).Parse("p.yaml", []byte(in))
	// x-redis is not a field: anchors must live where the schema allows.
	if err == nil || !strings.Contains(err.Error(), "p.yaml:2:1: x-redis: unknown field") {
		t.Fatalf("err = %v", err)
	}
	in = strings.Replace(in, "x-redis: &redis {type: redis, addr: \"h:1\", mode: hash}\n", "", 1)
	in = strings.Replace(in, "      - {<<: *redis, name: a", "      - {type: redis, addr: \"h:1\", mode: hash, name: a", 1)
	in = strings.Replace(in, "- name: s\n    sinks:\n      - {type", "- name: s\n    sinks:\n      - &redis {type", 1)
	c, err := testLoader(nil, nil).Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Pipelines[0].Sinks[0], c.Pipelines[0].Sinks[1]
	if a.Redis.Mode != "hash" || b.Redis.Mode != "string" || b.Redis.Addr != "h:1" || b.Name != "b" {
		t.Errorf("merge: a %v, b %v", a, b)
	}
}

func TestAliasBomb(t *testing.T) {
	t.Parallel()
	// Merge keys nest: each level merges the previous one ten times, 10^9
	// expansions in all unless the walk budget stops it.
	var b strings.Builder
	b.WriteString("version: 1\npipelines:\n  - name: s\n    sinks:\n      - &l0 {name: a, type: redis, addr: \"h:1\", topics: [t]}\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "      - &l%d {<<: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	_, err := testLoader(nil, nil).Parse("p.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many alias expansions") {
		t.Fatalf("err = %v", err)
	}
}

func TestOutboxCleanupMySQL(t *testing.T) {
	t.Parallel()
	in := "version: 1\npipelines:\n  - name: s\n    source:\n      type: mysql\n      dsn: u:p@tcp(h:3306)/db\n" +
		"      outbox: {table: db.outbox, cleanup: true, clean_batch: 200}\n    sinks:\n      - name: r\n        type: redis\n        addr: 127.0.0.1:6379\n        topics: [outbox.event.order]\n"
	c, err := testLoader(nil, nil).Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Pipelines[0].Source.Outbox
	if o == nil || !o.Cleanup || o.CleanBatch != 200 {
		t.Fatalf("outbox = %+v, want cleanup with batches of 200", o)
	}
}
