package redis

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names; every metric carries the const labels pipeline and sink.
const (
	metricWritten    = "sluice_sink_redis_records_written_total"
	metricRejected   = "sluice_sink_redis_records_rejected_total"
	metricConnErrors = "sluice_sink_redis_connection_errors_total"
	metricRebuildW   = "sluice_sink_redis_rebuild_keys_written"
	metricRebuildS   = "sluice_sink_redis_rebuild_keys_swept_total"
	metricTruncated  = "sluice_sink_redis_truncate_keys_deleted_total"
)

type metrics struct {
	written, rejected, connErrors prometheus.Counter
	rebuildWritten                prometheus.Gauge
	rebuildSwept, truncated       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, pipeline, sink string) (*metrics, error) {
	labels := prometheus.Labels{"pipeline": pipeline, "sink": sink}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		written:    counter(metricWritten, "Records applied to Redis (acknowledged)."),
		rejected:   counter(metricRejected, "Records rejected for themselves (sent to the dead-letter topic)."),
		connErrors: counter(metricConnErrors, "Writes that failed as a whole (Redis unreachable, loading, ...); the runtime retries them."),
		rebuildWritten: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricRebuildW, ConstLabels: labels,
			Help: "Distinct keys written since the running rebuild began."}),
		rebuildSwept: counter(metricRebuildS, "Stale keys deleted by rebuild sweeps."),
		truncated:    counter(metricTruncated, "Keys deleted by truncate events."),
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
	m.rebuildWritten, errs = register(reg, m.rebuildWritten, errs)
	m.rebuildSwept, errs = register(reg, m.rebuildSwept, errs)
	m.truncated, errs = register(reg, m.truncated, errs)
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
