package builtin

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/sources/mysql"
)

func mysqlSource(p *connectors.PipelineConfig, o Options) (func() (connectors.Source, error), error) {
	s := p.Source
	if s.Outbox != nil {
		return nil, errors.New("outbox: not supported by this build's mysql source")
	}
	cfg := mysql.Config{
		Pipeline: p.Name, DSN: s.DSN.Value(), Tables: s.Tables, Snapshot: s.Snapshot,
		TopicPrefix: s.TopicPrefix, Flavor: s.Flavor, ServerID: s.ServerID,
		Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor,
	}
	if _, err := mysql.New(cfg); err != nil { // check the config at start
		return nil, err
	}
	return func() (connectors.Source, error) {
		return mysql.New(cfg, mysql.WithLogger(o.Logger), mysql.WithRegisterer(o.Registerer))
	}, nil
}
