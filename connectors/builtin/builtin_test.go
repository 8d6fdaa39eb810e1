package builtin

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
)

func parse(t *testing.T, yaml string) *connectors.Config {
	t.Helper()
	cfg, err := connectors.Loader{}.Parse("pipeline.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSpecs(t *testing.T) {
	t.Parallel()
	cfg := parse(t, `version: 1
pipelines:
  - name: shop
    source:
      type: postgres
      dsn: postgres://u:p@127.0.0.1:1/db
      tables: [public.customers, public.orders]
      partitions: 6
    transforms:
      - {type: filter, tables: [public.orders], ops: [c, u, d, r]}
      - {type: mask_fields, table: public.customers, fields: [email]}
    sinks:
      - name: cache
        type: redis
        addr: 127.0.0.1:1
        topics: [shop.public.customers]
        dlq: {topic: cache-dlq}
      - name: cache2
        type: redis
        addr: 127.0.0.1:1
        topics: [shop.public.orders]
      - name: search
        type: elasticsearch
        url: http://127.0.0.1:1
        index: orders
        topics: [shop.public.orders]
`)
	reg := prometheus.NewRegistry()
	r := Default()
	// The source under test here is the mapping, not postgres itself.
	r.Sources[connectors.SourcePostgres] = func(p *connectors.PipelineConfig, o Options) (func() (connectors.Source, error), error) {
		if p.Source.DSN.Value() != "postgres://u:p@127.0.0.1:1/db" || len(p.Source.Tables) != 2 {
			t.Errorf("source config %+v", p.Source)
		}
		return func() (connectors.Source, error) { return memconn.NewSource(memconn.NewUpstream(), 1), nil }, nil
	}
	specs, err := r.Specs(cfg, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("%d specs", len(specs))
	}
	p := specs[0]
	if p.Name != "shop" || p.SourceName != "postgres" || p.NewSource == nil || p.Partitions != 6 ||
		strings.Join(p.Topics, ",") != "shop.public.customers,shop.public.orders" {
		t.Errorf("pipeline spec %+v", p)
	}
	if len(p.Transforms) != 2 || p.Transforms[0].Type != connectors.TransformFilter || p.Transforms[1].Fields[0] != "email" {
		t.Errorf("transforms %+v", p.Transforms)
	}
	if len(p.Sinks) != 3 || p.Sinks[2].Group != "sluice.shop.search" || p.Sinks[0].Group != "sluice.shop.cache" || p.Sinks[0].DLQTopic != "cache-dlq" || p.Sinks[1].DLQTopic != "" {
		t.Errorf("sinks %+v", p.Sinks)
	}
	// Constructors connect to nothing, and a restart's second instance
	// registers its metrics in place of the first's.
	for range 2 {
		for _, k := range p.Sinks {
			if _, err := k.NewSink(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.NewSource(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := connectors.NewRuntime(connectors.RuntimeConfig{Registerer: reg}, specs); err != nil {
		t.Fatalf("runtime refuses the specs: %v", err)
	}
}

func TestSpecsUnknownType(t *testing.T) {
	t.Parallel()
	cfg := parse(t, `version: 1
pipelines:
  - name: shop
    sinks:
      - name: cache
        type: redis
        addr: 127.0.0.1:1
        topics: [t]
`)
	r := Registry{Sources: map[string]SourceFactory{}, Sinks: map[string]SinkFactory{}}
	_, err := r.Specs(cfg, Options{})
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "pipelines[0].sinks[0].type") {
		t.Fatalf("err %v", err)
	}
}

func TestSpecsMySQL(t *testing.T) {
	t.Parallel()
	cfg := parse(t, `version: 1
pipelines:
  - name: inv
    source:
      type: mysql
      dsn: u:p@tcp(127.0.0.1:1)/inv
      tables: [inv.items]
`)
	specs, err := Specs(cfg, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	p := specs[0]
	if p.SourceName != "mysql" || strings.Join(p.Topics, ",") != "inv.inv.items" {
		t.Fatalf("spec %+v", p)
	}
	for range 2 {
		if _, err := p.NewSource(); err != nil {
			t.Fatal(err)
		}
	}
}
