package log

import (
	"io"
	"log/slog"
	"time"
)

// Option configures Open.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	metrics     *Metrics
	clock       func() time.Time
	dedupeBytes int64
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics sets the shared metrics (default: unregistered metrics).
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithClock sets the clock used for segment.ms, retention, compaction lag,
// tombstone expiry and LogAppendTime (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithDedupeBufferBytes bounds the memory of a compaction pass's key map
// (Kafka's log.cleaner.dedupe.buffer.size; default 128 MiB), counted as
// each distinct key's length plus DedupeEntryOverhead. A pass maps the
// dirty segments in order until the bound is reached and cleans only up
// to there; the next pass continues. The first dirty segment is always
// mapped whole, so one segment with more keys than the bound exceeds it.
func WithDedupeBufferBytes(n int64) Option { return func(o *options) { o.dedupeBytes = n } }

// DedupeEntryOverhead is what one key map entry counts beyond its key
// bytes (string header, offset, map bucket overhead).
const DedupeEntryOverhead = 48

func buildOptions(opts []Option) options {
	o := options{dedupeBytes: 128 << 20}
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
