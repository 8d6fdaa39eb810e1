package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// RuntimeConfig configures a Runtime.
type RuntimeConfig struct {
	// Kafka is how every client of the runtime reaches the broker (the
	// embedded one or any Kafka-compatible cluster).
	Kafka kafkaclient.Config
	// Logger receives lifecycle events and errors; nil discards.
	Logger *slog.Logger
	// Registerer receives the runtime's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// DrainTimeout bounds the soft stop: after the Run ctx is done, sources
	// stop reading and sinks stop polling, and in-flight produces, writes,
	// commits and final checkpoints get this long before they are cancelled.
	// Default 15s (CONTRACTS: exit within 20 s).
	DrainTimeout time.Duration
	// Backoff is the supervisor's restart delay and a sink's retry delay.
	Backoff Backoff
	// ClientOpts are appended to every franz-go client's options (tests).
	ClientOpts []kgo.Opt
	// CheckInterval is how often a running source that implements Checker
	// is probed; a failure shows in Status as retrying (or degraded) with
	// the error, until a check passes. Default 5s.
	CheckInterval time.Duration
}

// What a source does with a record larger than the broker accepts
// (PipelineSpec.OnTooLarge; the pipeline file's source.on_too_large).
const (
	TooLargeStop = "stop" // fail the run naming topic, key and size; retried with backoff
	TooLargeDLQ  = "dlq"  // send its key and the error to the dead-letter topic; go on
)

// PipelineSpec is one pipeline as the runtime runs it, built from the
// pipeline file (or by hand in tests).
type PipelineSpec struct {
	Name string
	// SourceName keys the source's position in __sluice_offsets (the
	// source type: "postgres", "mysql"). Required with NewSource.
	SourceName string
	// NewSource makes a fresh Source for every run of the supervisor; nil for
	// a sink-only pipeline.
	NewSource func() (Source, error)
	// Partitions and ReplicationFactor create the changelog topics a source
	// does not declare itself; <= 0 takes the broker's default.
	Partitions        int32
	ReplicationFactor int16
	// Topics the source is known to write (its tables' changelogs, after
	// routing): created at the start of every source run, so sinks can join
	// and report lag before the first change. Other topics are created on
	// their first record.
	Topics     []string
	Transforms []TransformSpec
	Sinks      []SinkSpec
	// OnTooLarge: TooLargeStop (default) or TooLargeDLQ.
	OnTooLarge string
	// DLQTopic receives too-large records' keys with TooLargeDLQ; default
	// "<record's topic>.dlq".
	DLQTopic string
}

// SinkSpec is one sink of a pipeline.
type SinkSpec struct {
	Name string
	// NewSink makes a fresh Sink for every run of the supervisor.
	NewSink func() (Sink, error)
	Topics  []string
	// Group is the consumer group; default sluice.<pipeline>.<name>.
	Group string
	// DLQTopic receives rejected records; default "<record's topic>.dlq".
	DLQTopic string
	// InstanceID turns on static group membership; empty: dynamic, and the
	// sink leaves its group on shutdown.
	InstanceID string
	// MaxPollRecords bounds one poll, so one Write per partition; default 1000.
	MaxPollRecords int
}

// Backoff is a capped exponential delay.
type Backoff struct {
	Min, Max time.Duration // defaults 500ms and 30s
}

func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = 500 * time.Millisecond
	}
	if b.Max < b.Min {
		b.Max = max(30*time.Second, b.Min)
	}
	return b
}

// delay returns the delay before attempt n (0-based).
func (b Backoff) delay(n int) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Runtime runs pipelines: every source and sink under a supervisor, the
// position store, topic creation, dead-letter topics, rebuilds and metrics.
// Create it with NewRuntime; call Run once. Status, Rebuild and Ready are
// safe to call from any goroutine at any time.
type Runtime struct {
	cfg       RuntimeConfig
	log       *slog.Logger
	metrics   *runtimeMetrics
	pipelines []*pipelineRun

	mu      sync.Mutex
	running bool
	topics  map[string]bool // topics known to exist
}

// pipelineRun is the runtime state of one pipeline.
type pipelineRun struct {
	spec   PipelineSpec
	source *sourceRun // nil for a sink-only pipeline
	sinks  []*sinkRun
}

// NewRuntime checks the specs and registers the metrics.
func NewRuntime(cfg RuntimeConfig, specs []PipelineSpec) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 15 * time.Second
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 5 * time.Second
	}
	if cfg.Kafka.ClientID == "" {
		cfg.Kafka.ClientID = "sluice-run"
	}
	m, err := newRuntimeMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering runtime metrics: %w", err)
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, metrics: m, topics: map[string]bool{}}
	var errs []error
	names := map[string]bool{}
	for i, p := range specs {
		if p.Name == "" || names[p.Name] {
			errs = append(errs, fmt.Errorf("%w: pipelines[%d].name %q: empty or duplicate", ErrBadSpec, i, p.Name))
			continue
		}
		names[p.Name] = true
		pr := &pipelineRun{spec: p}
		if p.NewSource != nil {
			switch p.OnTooLarge {
			case "":
				p.OnTooLarge = TooLargeStop
				pr.spec.OnTooLarge = TooLargeStop
			case TooLargeStop, TooLargeDLQ:
			default:
				errs = append(errs, fmt.Errorf("%w: pipelines[%d].on_too_large %q: want %s or %s", ErrBadSpec, i, p.OnTooLarge, TooLargeStop, TooLargeDLQ))
			}
			if p.SourceName == "" {
				errs = append(errs, fmt.Errorf("%w: pipelines[%d].source: no name", ErrBadSpec, i))
			}
			tc, err := newTransformChain(p.Transforms)
			if err != nil {
				errs = append(errs, fmt.Errorf("pipelines[%d].%w", i, err))
			}
			pr.source = newSourceRun(r, p, tc)
		}
		sinkNames := map[string]bool{}
		for j, s := range p.Sinks {
			switch {
			case s.Name == "" || sinkNames[s.Name]:
				errs = append(errs, fmt.Errorf("%w: pipelines[%d].sinks[%d].name %q: empty or duplicate", ErrBadSpec, i, j, s.Name))
			case s.NewSink == nil:
				errs = append(errs, fmt.Errorf("%w: pipelines[%d].sinks[%d]: no sink", ErrBadSpec, i, j))
			case len(s.Topics) == 0:
				errs = append(errs, fmt.Errorf("%w: pipelines[%d].sinks[%d].topics: required", ErrBadSpec, i, j))
			}
			sinkNames[s.Name] = true
			if s.Group == "" {
				s.Group = "sluice." + p.Name + "." + s.Name
			}
			if s.MaxPollRecords <= 0 {
				s.MaxPollRecords = 1000
			}
			pr.sinks = append(pr.sinks, newSinkRun(r, p.Name, s))
		}
		r.pipelines = append(r.pipelines, pr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Run runs every pipeline until ctx is done, then stops them softly: sources
// stop reading, in-flight records are produced and their positions stored
// and acknowledged, sinks finish the write in progress, commit and leave
// their groups. It returns nil after a clean stop. Failures of sources and
// sinks are logged, counted and retried; they never end Run.
func (r *Runtime) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRuntimeRunning
	}
	r.running = true
	r.mu.Unlock()

	// hard is cancelled DrainTimeout after ctx: it bounds the drain.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		t := time.NewTimer(r.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			r.log.Warn("drain timeout: cancelling in-flight work", "timeout", r.cfg.DrainTimeout)
			cancelHard()
		case <-hard.Done():
		}
	})

	r.log.Info("connector runtime starting", "pipelines", len(r.pipelines), "kafka", r.cfg.Kafka.String())
	var runs sync.WaitGroup
	for _, p := range r.pipelines {
		if p.source != nil {
			runs.Go(func() { p.source.supervise(ctx, hard) })
		}
		for _, s := range p.sinks {
			runs.Go(func() { s.supervise(ctx, hard) })
		}
	}
	runs.Wait()
	cancelHard()
	wg.Wait()
	r.log.Info("connector runtime stopped")
	return nil
}

// newClient returns a franz-go client to the broker with the runtime's
// options, then extra.
func (r *Runtime) newClient(log *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.WithLogger(kgoLogger{log})}
	opts = append(opts, r.cfg.ClientOpts...)
	opts = append(opts, extra...)
	return r.cfg.Kafka.NewClient(opts...)
}

// ensureTopic creates topic from spec unless it is known to exist.
// TOPIC_ALREADY_EXISTS counts as success.
func (r *Runtime) ensureTopic(ctx context.Context, adm *kadm.Client, spec TopicSpec) error {
	r.mu.Lock()
	known := r.topics[spec.Name]
	r.mu.Unlock()
	if known {
		return nil
	}
	partitions, rf := spec.Partitions, spec.ReplicationFactor
	if partitions <= 0 {
		partitions = -1
	}
	if rf <= 0 {
		rf = -1
	}
	configs := map[string]*string{}
	for k, v := range spec.Configs {
		configs[k] = &v
	}
	_, err := adm.CreateTopic(ctx, partitions, rf, configs, spec.Name)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", spec.Name, err)
	}
	if err == nil {
		r.log.Info("topic created", "topic", spec.Name, "partitions", partitions, "replication_factor", rf)
	}
	r.mu.Lock()
	r.topics[spec.Name] = true
	r.mu.Unlock()
	return nil
}

// findSink returns the sink run of pipeline/sink.
func (r *Runtime) findSink(pipeline, sink string) (*sinkRun, error) {
	for _, p := range r.pipelines {
		if p.spec.Name != pipeline {
			continue
		}
		for _, s := range p.sinks {
			if s.spec.Name == sink {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%w: %s in pipeline %s", ErrUnknownSink, sink, pipeline)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownPipeline, pipeline)
}

// Rebuild asks the sink to replay its topics from the earliest offsets into
// a fresh target (see Rebuilder). It returns at once; progress shows in
// Status. ErrRebuildInProgress if one is already running.
func (r *Runtime) Rebuild(pipeline, sink string) error {
	s, err := r.findSink(pipeline, sink)
	if err != nil {
		return err
	}
	return s.requestRebuild()
}
