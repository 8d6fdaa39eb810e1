package mysql

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. Labels: pipeline (constant per Source).
const (
	metricRead        = "sluice_source_mysql_records_read_total"
	metricSnapshotRow = "sluice_source_mysql_snapshot_rows_total"
	metricConnErrors  = "sluice_source_mysql_connection_errors_total"
	metricCheckpoint  = "sluice_source_mysql_checkpoint_position"
)

type metrics struct {
	read, snapshotRows, connErrors prometheus.Counter
	checkpoint                     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pipeline string) *metrics {
	labels := prometheus.Labels{"pipeline": pipeline}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		read:         counter(metricRead, "Change events read from the binlog or the snapshot."),
		snapshotRows: counter(metricSnapshotRow, "Rows read by the snapshot."),
		connErrors:   counter(metricConnErrors, "Binlog connection failures."),
		checkpoint: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricCheckpoint, ConstLabels: labels,
			Help: "Binlog offset (within its file) of the last acknowledged position."}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.read, m.snapshotRows, m.connErrors, m.checkpoint} {
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			continue
		}
		// A restarted Source of the same pipeline: keep the first series.
		switch c {
		case m.read:
			m.read = are.ExistingCollector.(prometheus.Counter)
		case m.snapshotRows:
			m.snapshotRows = are.ExistingCollector.(prometheus.Counter)
		case m.connErrors:
			m.connErrors = are.ExistingCollector.(prometheus.Counter)
		case m.checkpoint:
			m.checkpoint = are.ExistingCollector.(prometheus.Gauge)
		}
	}
	return m
}
