package connectors

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Label names of the runtime's metrics.
const (
	labelPipeline  = "pipeline"
	labelSource    = "source"
	labelSink      = "sink"
	labelConnector = "connector" // a source or sink name
	labelKind      = "kind"      // "source" or "sink"
	labelGroup     = "group"
	labelTopic     = "topic"
	labelPartition = "partition"
)

// runtimeMetrics are every metric of the runtime. Connectors get the
// standard set (records_read_total, records_written_total, ack_lag_seconds,
// connection_errors_total, checkpoint_position), plus the runtime's own.
type runtimeMetrics struct {
	recordsRead     *prometheus.CounterVec   // pipeline, source
	recordsProduced *prometheus.CounterVec   // pipeline, source
	recordsFiltered *prometheus.CounterVec   // pipeline, source
	recordsWritten  *prometheus.CounterVec   // pipeline, sink
	recordsFailed   *prometheus.CounterVec   // pipeline, sink
	recordsDLQ      *prometheus.CounterVec   // pipeline, sink
	ackLag          *prometheus.HistogramVec // pipeline, source
	connErrors      *prometheus.CounterVec   // pipeline, kind, connector
	checkpoint      *prometheus.GaugeVec     // pipeline, source
	sourceLag       *prometheus.GaugeVec     // pipeline, source
	sourcePending   *prometheus.GaugeVec     // pipeline, source
	consumerLag     *prometheus.GaugeVec     // pipeline, sink, group, topic, partition
	restarts        *prometheus.CounterVec   // pipeline, kind, connector
	rebuildDone     *prometheus.GaugeVec     // pipeline, sink
	rebuildTotal    *prometheus.GaugeVec     // pipeline, sink
	tooLarge        *prometheus.CounterVec   // pipeline, source
}

func newRuntimeMetrics(reg prometheus.Registerer) (*runtimeMetrics, error) {
	src := []string{labelPipeline, labelSource}
	snk := []string{labelPipeline, labelSink}
	conn := []string{labelPipeline, labelKind, labelConnector}
	m := &runtimeMetrics{
		recordsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_read_total", Help: "Records read from a source (before transforms).",
		}, src),
		recordsProduced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_produced_total", Help: "Records a source produced and the broker acknowledged (acks=all).",
		}, src),
		recordsFiltered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_filtered_total", Help: "Source records a filter transform dropped.",
		}, src),
		recordsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_written_total", Help: "Records a sink wrote and its target acknowledged.",
		}, snk),
		recordsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_failed_total", Help: "Records a sink's target rejected (each then goes to the dead-letter topic).",
		}, snk),
		recordsDLQ: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_dlq_total", Help: "Records written to a dead-letter topic.",
		}, snk),
		ackLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ack_lag_seconds",
			Help:    "Time from reading a source batch to acknowledging its position upstream.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, src),
		connErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connection_errors_total", Help: "Failed runs of a source or sink and failed sink writes (the target or the broker unreachable).",
		}, conn),
		checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "checkpoint_position", Help: "The last position stored in __sluice_offsets, when the source's position is numeric (see PositionValuer).",
		}, src),
		sourceLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "source_lag_seconds", Help: "Age of the oldest record read but not yet acknowledged (0 when caught up).",
		}, src),
		sourcePending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "source_pending_records", Help: "Records read from a source and not yet acknowledged by the broker.",
		}, src),
		consumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "consumer_lag", Help: "High watermark minus committed offset, per sink group partition.",
		}, []string{labelPipeline, labelSink, labelGroup, labelTopic, labelPartition}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "restarts_total", Help: "Restarts of a supervised source or sink after a failure.",
		}, conn),
		rebuildDone: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rebuild_replayed_records", Help: "Records replayed by the running sink rebuild.",
		}, snk),
		rebuildTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rebuild_total_records", Help: "Records the running sink rebuild replays in all.",
		}, snk),
		tooLarge: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "records_too_large_total", Help: "Source records larger than the broker accepts for their topic (each stopped the source or went to its dead-letter topic).",
		}, src),
	}
	for _, c := range []prometheus.Collector{m.recordsRead, m.recordsProduced, m.recordsFiltered,
		m.recordsWritten, m.recordsFailed, m.recordsDLQ, m.ackLag, m.connErrors, m.checkpoint,
		m.sourceLag, m.sourcePending, m.consumerLag, m.restarts, m.rebuildDone, m.rebuildTotal, m.tooLarge} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
