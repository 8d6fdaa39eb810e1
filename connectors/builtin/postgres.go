package builtin

import (
	"log/slog"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox/router"
	"github.com/sluicehq/sluice/sources/postgres"
)

func postgresSource(p *connectors.PipelineConfig, o Options) (func() (connectors.Source, error), error) {
	s := p.Source
	cfg := postgres.Config{
		Pipeline: p.Name, DSN: s.DSN.Value(), Tables: s.Tables, Snapshot: s.Snapshot,
		TopicPrefix: s.TopicPrefix, Slot: s.Slot, Publication: s.Publication,
		Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor,
	}
	if s.Outbox != nil {
		// One router for the pipeline: it is immutable, so every
		// (re)opened source shares it.
		rt, err := router.New(router.FromPipeline(s.Outbox, s.Partitions, s.ReplicationFactor))
		if err != nil {
			return nil, err
		}
		cfg.Outbox = rt
		cfg.OutboxCleanup, cfg.OutboxCleanBatch = s.Outbox.Cleanup, s.Outbox.CleanBatch
	}
	if _, err := postgres.New(cfg); err != nil { // check the config at start
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	newSrc := func(c postgres.Config) (*postgres.Source, error) {
		return postgres.New(c, postgres.WithLogger(o.Logger), postgres.WithRegisterer(o.Registerer))
	}
	return func() (connectors.Source, error) {
		src, err := newSrc(cfg)
		if err != nil {
			return nil, err
		}
		return &pgSource{Source: src, probe: newPGProbe(cfg.DSN, cfg.Tables), cfg: cfg, newSrc: newSrc,
			log: log.With("pipeline", p.Name, "source", "postgres")}, nil
	}, nil
}
