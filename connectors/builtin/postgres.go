package builtin

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/sources/postgres"
)

func postgresSource(p *connectors.PipelineConfig, o Options) (func() (connectors.Source, error), error) {
	s := p.Source
	if s.Outbox != nil {
		return nil, errors.New("outbox: not supported by this build's postgres source yet")
	}
	cfg := postgres.Config{
		Pipeline: p.Name, DSN: s.DSN.Value(), Tables: s.Tables, Snapshot: s.Snapshot,
		TopicPrefix: s.TopicPrefix, Slot: s.Slot, Publication: s.Publication,
		Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor,
	}
	if _, err := postgres.New(cfg); err != nil { // check the config at start
		return nil, err
	}
	return func() (connectors.Source, error) {
		return postgres.New(cfg, postgres.WithLogger(o.Logger), postgres.WithRegisterer(o.Registerer))
	}, nil
}
