package postgres

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. Labels: pipeline (constant per Source). The runtime keeps
// the standard connector set (ack lag, records written); these are the
// source's own.
const (
	metricRead        = "sluice_source_postgres_records_read_total"
	metricSnapshotRow = "sluice_source_postgres_snapshot_rows_total"
	metricConnErrors  = "sluice_source_postgres_connection_errors_total"
	metricRetained    = "sluice_source_postgres_slot_retained_wal_bytes"
	metricCheckpoint  = "sluice_source_postgres_checkpoint_position"
)

type metrics struct {
	read, snapshotRows, connErrors prometheus.Counter
	retained, checkpoint           prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pipeline string) *metrics {
	labels := prometheus.Labels{"pipeline": pipeline}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		read:         counter(metricRead, "Change events read from the WAL or the snapshot."),
		snapshotRows: counter(metricSnapshotRow, "Rows read by the snapshot."),
		connErrors:   counter(metricConnErrors, "Replication connection failures."),
		retained:     gauge(metricRetained, "WAL bytes the slot retains (current WAL LSN minus restart_lsn)."),
		checkpoint:   gauge(metricCheckpoint, "Last acknowledged flush LSN confirmed on the slot."),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.read, m.snapshotRows, m.connErrors, m.retained, m.checkpoint} {
			// A second Source of the same pipeline (a supervisor restart)
			// registers the same series; keep the first registration's.
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if errors.As(err, &are) {
					switch c {
					case m.read:
						m.read = are.ExistingCollector.(prometheus.Counter)
					case m.snapshotRows:
						m.snapshotRows = are.ExistingCollector.(prometheus.Counter)
					case m.connErrors:
						m.connErrors = are.ExistingCollector.(prometheus.Counter)
					case m.retained:
						m.retained = are.ExistingCollector.(prometheus.Gauge)
					case m.checkpoint:
						m.checkpoint = are.ExistingCollector.(prometheus.Gauge)
					}
				}
			}
		}
	}
	return m
}
