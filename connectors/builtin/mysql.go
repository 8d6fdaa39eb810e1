package builtin

import (
	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox/router"
	"github.com/sluicehq/sluice/sources/mysql"
)

func mysqlSource(p *connectors.PipelineConfig, o Options) (func() (connectors.Source, error), error) {
	s := p.Source
	cfg := mysql.Config{
		Pipeline: p.Name, DSN: s.DSN.Value(), Tables: s.Tables, Snapshot: s.Snapshot,
		TopicPrefix: s.TopicPrefix, Flavor: s.Flavor, ServerID: s.ServerID,
		Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor,
	}
	if s.Outbox != nil {
		// One router for the pipeline, shared by every (re)opened source:
		// it is immutable. The same option shape as the Postgres source.
		rt, err := router.New(router.FromPipeline(s.Outbox, s.Partitions, s.ReplicationFactor))
		if err != nil {
			return nil, err
		}
		cfg.Outbox = rt
		cfg.OutboxCleanup, cfg.OutboxCleanBatch = s.Outbox.Cleanup, s.Outbox.CleanBatch
	}
	if _, err := mysql.New(cfg); err != nil { // check the config at start
		return nil, err
	}
	return func() (connectors.Source, error) {
		return mysql.New(cfg, mysql.WithLogger(o.Logger), mysql.WithRegisterer(o.Registerer))
	}, nil
}
