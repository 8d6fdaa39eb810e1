package elasticsearch

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names; every metric carries the const labels pipeline and sink.
const (
	metricWritten    = "sluice_sink_elasticsearch_records_written_total"
	metricRejected   = "sluice_sink_elasticsearch_records_rejected_total"
	metricConnErrors = "sluice_sink_elasticsearch_connection_errors_total"
	metricBulk       = "sluice_sink_elasticsearch_bulk_requests_total"
	metricRebuildW   = "sluice_sink_elasticsearch_rebuild_docs_written"
)

type metrics struct {
	written, rejected, connErrors, bulk prometheus.Counter
	rebuildWritten                      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pipeline, sink string) (*metrics, error) {
	labels := prometheus.Labels{"pipeline": pipeline, "sink": sink}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		written:    counter(metricWritten, "Records applied to Elasticsearch (acknowledged)."),
		rejected:   counter(metricRejected, "Records rejected for themselves (sent to the dead-letter topic)."),
		connErrors: counter(metricConnErrors, "Bulk attempts that failed as a whole or in part for a transient reason (connection, 429, 5xx); retried."),
		bulk:       counter(metricBulk, "Bulk requests sent."),
		rebuildWritten: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricRebuildW, ConstLabels: labels,
			Help: "Documents written to the new index since the running rebuild began."}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	// A sink built again for the same pipeline and name (a supervisor
	// restart) shares the collectors registered the first time.
	m.written, errs = register(reg, m.written, errs)
	m.rejected, errs = register(reg, m.rejected, errs)
	m.connErrors, errs = register(reg, m.connErrors, errs)
	m.bulk, errs = register(reg, m.bulk, errs)
	m.rebuildWritten, errs = register(reg, m.rebuildWritten, errs)
	return m, errors.Join(errs...)
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C, errs []error) (C, []error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, errs
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	return c, errs
}
