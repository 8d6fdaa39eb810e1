package group

import "github.com/prometheus/client_golang/prometheus"

// Metric and label names of the coordinator.
const (
	metricNamespace = "sluice"
	metricSubsystem = "group"
	labelState      = "state"
	labelReason     = "reason"
)

type metrics struct {
	groups         *prometheus.GaugeVec   // groups by state
	rebalances     prometheus.Counter     // rebalances started
	expired        *prometheus.CounterVec // members removed by a timeout, by reason
	commits        prometheus.Counter     // partition offsets committed
	skippedRecords prometheus.Counter     // undecodable __consumer_offsets records skipped on load
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		groups: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "groups",
			Help: "Consumer groups by state.",
		}, []string{labelState}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "rebalances_total",
			Help: "Rebalances started (transitions to PreparingRebalance).",
		}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "members_removed_total",
			Help: "Members removed by the coordinator, by reason (session_timeout, rebalance_timeout, sync_timeout).",
		}, []string{labelReason}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "offset_commits_total",
			Help: "Partition offsets committed.",
		}),
		skippedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "load_skipped_records_total",
			Help: "Undecodable __consumer_offsets records skipped while loading.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.groups, m.rebalances, m.expired, m.commits, m.skippedRecords)
	}
	return m
}
