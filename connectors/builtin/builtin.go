package builtin

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/sinks/redis"
)

// Options are what constructors get besides their config.
type Options struct {
	Logger     *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil: metrics registered nowhere
}

// SourceFactory returns the constructor of a pipeline's source; it checks
// the config but connects to nothing.
type SourceFactory func(p *connectors.PipelineConfig, o Options) (func() (connectors.Source, error), error)

// SinkFactory returns the constructor of a pipeline's sink.
type SinkFactory func(p *connectors.PipelineConfig, s *connectors.SinkConfig, o Options) (func() (connectors.Sink, error), error)

// Registry maps type names (the pipeline file's `type`) to factories.
type Registry struct {
	Sources map[string]SourceFactory
	Sinks   map[string]SinkFactory
}

// Default returns the registry of the connectors in this binary.
func Default() Registry {
	return Registry{
		Sources: map[string]SourceFactory{
			connectors.SourcePostgres: postgresSource,
			connectors.SourceMySQL:    mysqlSource,
		},
		Sinks: map[string]SinkFactory{
			connectors.SinkRedis:         redisSink,
			connectors.SinkElasticsearch: elasticsearchSink,
		},
	}
}

// ErrUnknownType is returned for a source or sink type with no factory.
var ErrUnknownType = errors.New("builtin: connector type not built into this binary")

// Specs maps cfg (loaded, defaulted and validated) with the default registry.
func Specs(cfg *connectors.Config, o Options) ([]connectors.PipelineSpec, error) {
	return Default().Specs(cfg, o)
}

// Specs maps cfg to the runtime's specs; it reports every problem, each
// naming its field path.
func (r Registry) Specs(cfg *connectors.Config, o Options) ([]connectors.PipelineSpec, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	o.Registerer = replacingRegisterer{o.Registerer}
	var specs []connectors.PipelineSpec
	var errs []error
	for i := range cfg.Pipelines {
		p := &cfg.Pipelines[i]
		spec := connectors.PipelineSpec{Name: p.Name}
		if s := p.Source; s != nil {
			f, ok := r.Sources[s.Type]
			if !ok {
				errs = append(errs, fmt.Errorf("pipelines[%d].source.type: %w: %q (have %v)", i, ErrUnknownType, s.Type, keys(r.Sources)))
			} else if ns, err := f(p, o); err != nil {
				errs = append(errs, fmt.Errorf("pipelines[%d].source: %w", i, err))
			} else {
				spec.SourceName, spec.NewSource = s.Type, ns
				spec.Partitions, spec.ReplicationFactor = s.Partitions, s.ReplicationFactor
				spec.OnTooLarge, spec.DLQTopic = s.OnTooLarge, s.DLQ.Topic
				for _, t := range p.Topics() {
					if !strings.Contains(t, "{") { // not a template (outbox)
						spec.Topics = append(spec.Topics, t)
					}
				}
			}
			for j := range p.Transforms {
				spec.Transforms = append(spec.Transforms, p.Transforms[j].Spec())
			}
		}
		for j := range p.Sinks {
			s := &p.Sinks[j]
			f, ok := r.Sinks[s.Type]
			if !ok {
				errs = append(errs, fmt.Errorf("pipelines[%d].sinks[%d].type: %w: %q (have %v)", i, j, ErrUnknownType, s.Type, keys(r.Sinks)))
				continue
			}
			ns, err := f(p, s, o)
			if err != nil {
				errs = append(errs, fmt.Errorf("pipelines[%d].sinks[%d]: %w", i, j, err))
				continue
			}
			spec.Sinks = append(spec.Sinks, connectors.SinkSpec{
				Name: s.Name, NewSink: ns, Topics: s.Topics, Group: s.Group,
				DLQTopic: s.DLQ.Topic, InstanceID: s.InstanceID,
			})
		}
		specs = append(specs, spec)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return specs, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func redisSink(p *connectors.PipelineConfig, s *connectors.SinkConfig, o Options) (func() (connectors.Sink, error), error) {
	rc := s.Redis
	if rc == nil {
		return nil, fmt.Errorf("redis: no redis settings")
	}
	cfg := redis.Config{
		Pipeline: p.Name, Name: s.Name,
		Addr: rc.Addr, Addrs: rc.Addrs, Username: rc.Username, Password: rc.Password.Value(), DB: rc.DB,
		Key: rc.Key, Mode: rc.Mode, TTL: rc.TTL, Topics: s.Topics, Value: s.Value,
	}
	if t := rc.TLS; t != nil {
		cfg.TLS = redis.TLSConfig{Enabled: true, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	// Check the config now, so a bad one fails `sluice run` at start.
	if _, err := redis.New(cfg); err != nil {
		return nil, err
	}
	log := o.Logger
	return func() (connectors.Sink, error) {
		return redis.New(cfg, redis.WithLogger(log), redis.WithRegisterer(o.Registerer))
	}, nil
}

// replacingRegisterer registers a collector in place of an equal one
// already registered (by an earlier instance of the same connector).
type replacingRegisterer struct{ prometheus.Registerer }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registerer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registerer.Unregister(are.ExistingCollector)
		return r.Registerer.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}
