package log

import (
	"io"
	"log/slog"
	"time"
)

// Option configures Open.
type Option func(*options)

type options struct {
	logger  *slog.Logger
	metrics *Metrics
	clock   func() time.Time
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics sets the shared metrics (default: unregistered metrics).
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithClock sets the clock used for segment.ms, retention, compaction lag,
// tombstone expiry and LogAppendTime (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

func buildOptions(opts []Option) options {
	o := options{}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.metrics == nil {
		o.metrics = NewMetrics(nil)
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	return o
}
