package builtin

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
)

func elasticsearchSink(p *connectors.PipelineConfig, s *connectors.SinkConfig, o Options) (func() (connectors.Sink, error), error) {
	ec := s.Elasticsearch
	if ec == nil {
		return nil, errors.New("elasticsearch: no elasticsearch settings")
	}
	cfg := elasticsearch.Config{
		Pipeline: p.Name, Name: s.Name,
		URL: ec.URL.Value(), Username: ec.Username, Password: ec.Password.Value(), APIKey: ec.APIKey.Value(),
		CAFile: ec.CAFile, InsecureSkipVerify: ec.InsecureSkipVerify,
		Index: ec.Index, KeepIndexes: ec.KeepIndexes, BulkMaxDocs: ec.BatchSize, Value: s.Value,
	}
	if _, err := elasticsearch.New(cfg); err != nil { // check the config at start
		return nil, err
	}
	return func() (connectors.Sink, error) {
		return elasticsearch.New(cfg, elasticsearch.WithLogger(o.Logger), elasticsearch.WithRegisterer(o.Registerer))
	}, nil
}
