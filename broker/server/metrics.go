package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metric and label names of the server.
const (
	metricNamespace = "sluice"
	metricSubsystem = "server"
	labelAPI        = "api"
	labelReason     = "reason"
	labelCode       = "code"
)

// Reasons a connection ended (labelReason of connections_closed_total).
const (
	closeEOF       = "eof"         // the peer closed, or shutdown
	closeTooLarge  = "too_large"   // frame over socket.request.max.bytes
	closeMalformed = "malformed"   // undecodable or unsupported request
	closeIOError   = "io_error"    // read or write failure
	closeHandler   = "handler"     // a handler failed (e.g. the group coordinator)
	closeAcks0     = "acks0_error" // an acks=0 produce failed: closing is the only signal
	closeTLS       = "tls"         // the TLS handshake failed (e.g. a plaintext client)
	closeAuth      = "auth"        // SASL failed, or a request before authentication
)

type metrics struct {
	connections      prometheus.Gauge         // open connections
	connectionsTotal prometheus.Counter       // accepted connections
	closed           *prometheus.CounterVec   // connections ended, by reason
	requests         *prometheus.CounterVec   // requests handled, by api
	duration         *prometheus.HistogramVec // read-to-response time, by api
	producedBytes    prometheus.Counter       // batch bytes appended by Produce
	producedRecords  prometheus.Counter       // records appended by Produce
	authFailures     prometheus.Counter       // SASL authentications refused
	authzDenied      *prometheus.CounterVec   // requests (or parts) refused by ACLs, by api
	produceRefused   *prometheus.CounterVec   // partition produces refused, by Kafka error name
	fetchedBytes     prometheus.Counter       // batch bytes served by Fetch
	replicatedBytes  prometheus.Counter       // cluster: batch bytes a follower appended
	isrShrinks       prometheus.Counter       // cluster: ISR shrinks this leader made
	isrExpands       prometheus.Counter       // cluster: ISR expansions this leader made
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "connections",
			Help: "Open client connections.",
		}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "connections_accepted_total",
			Help: "Client connections accepted.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "connections_closed_total",
			Help: "Client connections closed, by reason (eof, too_large, malformed, io_error, handler, acks0_error, tls, auth).",
		}, []string{labelReason}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "requests_total",
			Help: "Requests handled, by API.",
		}, []string{labelAPI}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "request_duration_seconds",
			Help:    "Time from reading a request to its response being ready, by API (long polls included).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{labelAPI}),
		producedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "produced_bytes_total",
			Help: "Record batch bytes appended by Produce.",
		}),
		producedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "produced_records_total",
			Help: "Records appended by Produce.",
		}),
		produceRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "produce_refused_total",
			Help: "Partition produces refused, by Kafka error code name.",
		}, []string{labelCode}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "sasl_authentication_failures_total",
			Help: "SASL authentications refused (bad credentials, unknown user, malformed exchange).",
		}),
		authzDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "authorization_denied_total",
			Help: "Resources of a request refused by ACLs, by API.",
		}, []string{labelAPI}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "fetched_bytes_total",
			Help: "Record batch bytes served by Fetch.",
		}),
		replicatedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "replicated_bytes_total",
			Help: "Cluster: record batch bytes this broker appended as a follower.",
		}),
		isrShrinks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "isr_shrinks_total",
			Help: "Cluster: in-sync replica sets this leader shrank (a follower lagged past replica.lag.time.max.ms).",
		}),
		isrExpands: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "isr_expands_total",
			Help: "Cluster: in-sync replica sets this leader grew (a follower caught up).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.connectionsTotal, m.closed, m.requests, m.duration,
			m.producedBytes, m.producedRecords, m.produceRefused, m.fetchedBytes,
			m.authFailures, m.authzDenied, m.replicatedBytes, m.isrShrinks, m.isrExpands)
	}
	return m
}

// WithRegisterer registers the server's metrics on reg (default: none).
func WithRegisterer(reg prometheus.Registerer) Option { return func(s *Server) { s.reg = reg } }

func apiName(key int16) string { return kmsg.NameForKey(key) }

// codeName is the Kafka name of an error code (UNKNOWN_SERVER_ERROR for
// codes kerr does not know), a bounded label value.
func codeName(code int16) string {
	if e := kerr.TypedErrorForCode(code); e != nil {
		return e.Message
	}
	return "NONE"
}

// registerClusterMetrics adds the gauges of cluster mode, computed at
// scrape time from the local replicas.
func (s *Server) registerClusterMetrics() {
	if s.reg == nil {
		return
	}
	s.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "under_replicated_partitions",
			Help: "Cluster: partitions this broker leads whose ISR is smaller than their replica set.",
		}, func() float64 {
			n := 0
			for _, p := range s.ledPartitions() {
				if r := p.role.Load(); r != nil && len(r.isr) < len(r.replicas) {
					n++
				}
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "replica_max_lag",
			Help: "Cluster: the largest distance, in offsets, between a leader's high watermark and this follower's log end, as of the last fetches.",
		}, func() float64 {
			var lag int64
			for _, p := range s.localPartitions() {
				if r := p.role.Load(); r != nil && r.leader != s.cfg.NodeID {
					lag = max(lag, p.repl.lag.Load())
				}
			}
			return float64(lag)
		}),
	)
}
