package cluster

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the package's Prometheus metrics, registered on the injected
// Registerer (none when nil).
type metrics struct {
	isController prometheus.Gauge
	version      prometheus.Gauge
	fenced       prometheus.Gauge
	commit       prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		isController: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_cluster_is_controller", Help: "1 while this node is the Raft leader (the controller)."}),
		version:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_cluster_image_version", Help: "Raft index of the last metadata entry applied locally."}),
		fenced:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_cluster_fenced_brokers", Help: "Registered brokers that are fenced, in the local image."}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_cluster_raft_commit_seconds", Help: "Time from proposing a controller command to its local apply, on the controller.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.isController, m.version, m.fenced, m.commit}
}

// register registers every metric on reg (nothing when nil); on failure
// none stays registered.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var errs []error
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, c)
	}
	if err := errors.Join(errs...); err != nil {
		for _, c := range done {
			reg.Unregister(c)
		}
		return fmt.Errorf("registering cluster metrics: %w", err)
	}
	return nil
}
