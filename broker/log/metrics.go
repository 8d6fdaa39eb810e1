package log

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the log metrics, shared by every Log of a broker (aggregated
// over partitions). Create one with NewMetrics and pass it with WithMetrics.
type Metrics struct {
	Appends            prometheus.Counter
	AppendedBytes      prometheus.Counter
	AppendErrors       *prometheus.CounterVec // label: reason
	Fsyncs             prometheus.Counter
	FsyncSeconds       prometheus.Histogram
	Rolls              prometheus.Counter
	RecoveryTruncated  prometheus.Counter // recovery truncations (a torn or corrupt tail)
	RecoveryTruncBytes prometheus.Counter // bytes removed by those truncations
	IndexRebuilds      prometheus.Counter
	SegmentsDeleted    *prometheus.CounterVec // label: reason (retention_ms, retention_bytes, log_start, truncate)
	CleanerRuns        prometheus.Counter
	CleanerBytesFreed  prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "sluice", "log"
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &Metrics{
		Appends:       c("appends_total", "Record batches appended."),
		AppendedBytes: c("appended_bytes_total", "Bytes of record batches appended."),
		AppendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "append_errors_total",
			Help: "Appends refused or failed, by reason."}, []string{"reason"}),
		Fsyncs: c("fsyncs_total", "fsyncs of segment files (one may cover many appends)."),
		FsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "fsync_seconds",
			Help: "Duration of group-commit fsyncs.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		Rolls:              c("segment_rolls_total", "Segments rolled."),
		RecoveryTruncated:  c("recovery_truncations_total", "Torn or corrupt tails truncated by recovery."),
		RecoveryTruncBytes: c("recovery_truncated_bytes_total", "Bytes removed by recovery truncations."),
		IndexRebuilds:      c("index_rebuilds_total", "Segment indexes rebuilt from the log."),
		SegmentsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "segments_deleted_total",
			Help: "Segments deleted, by reason."}, []string{"reason"}),
		CleanerRuns:       c("cleaner_runs_total", "Compactions that rewrote segments."),
		CleanerBytesFreed: c("cleaner_bytes_freed_total", "Bytes freed by compaction."),
	}
	if reg != nil {
		reg.MustRegister(m.Appends, m.AppendedBytes, m.AppendErrors, m.Fsyncs, m.FsyncSeconds, m.Rolls,
			m.RecoveryTruncated, m.RecoveryTruncBytes, m.IndexRebuilds, m.SegmentsDeleted, m.CleanerRuns, m.CleanerBytesFreed)
	}
	return m
}
