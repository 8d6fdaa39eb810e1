package connectors

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Status is the runtime's state as the admin API serves it (GET
// /api/v1/status) and `sluice status` shows it. Field names are the JSON
// contract between the two; add fields, never rename them.
type Status struct {
	Pipelines []PipelineStatus `json:"pipelines"`
}

// PipelineStatus is one pipeline.
type PipelineStatus struct {
	Name   string        `json:"name"`
	Source *SourceStatus `json:"source,omitempty"`
	Sinks  []SinkStatus  `json:"sinks,omitempty"`
}

// ComponentStatus is what every supervised source and sink reports.
type ComponentStatus struct {
	Name        string     `json:"name"`
	State       string     `json:"state"` // starting | running | retrying | degraded | restarting | stopped
	Restarts    int        `json:"restarts"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Retries counts consecutive failed attempts (restarts, failed health
	// checks) since the component was last healthy; NextAttemptAt is when
	// the next restart or check happens. Both absent when healthy.
	Retries       int        `json:"retries,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// SourceStatus is a pipeline's source.
type SourceStatus struct {
	ComponentStatus
	// Position is the last position stored and acknowledged (JSON as the
	// source encodes it; a JSON string when it is not JSON), null before
	// the first.
	Position     json.RawMessage `json:"position"`
	CheckpointAt *time.Time      `json:"checkpoint_at,omitempty"`
	Read         int64           `json:"records_read"`
	Produced     int64           `json:"records_produced"`
	// Pending records were read and are not yet acknowledged by the broker;
	// LagSeconds is the age of the oldest of them (0 when caught up).
	Pending    int64     `json:"pending_records"`
	LagSeconds float64   `json:"lag_seconds"`
	Snapshot   *Progress `json:"snapshot,omitempty"`
}

// SinkStatus is one sink.
type SinkStatus struct {
	ComponentStatus
	Group      string            `json:"group"`
	Topics     []string          `json:"topics"`
	Written    int64             `json:"records_written"`
	Failed     int64             `json:"records_failed"`
	Partitions []PartitionStatus `json:"partitions"`
	Rebuild    *Progress         `json:"rebuild,omitempty"`
}

// PartitionStatus is a sink group's position in one partition.
type PartitionStatus struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Committed     int64  `json:"committed"`
	HighWatermark int64  `json:"high_watermark"`
	Lag           int64  `json:"lag"`
}

// Progress is a snapshot or a replay: Done of Total, the rate over the last
// minute and the estimated time left (-1 unknown).
type Progress struct {
	Phase      string     `json:"phase"` // running | done | pending
	Done       int64      `json:"done"`
	Total      int64      `json:"total"`
	RatePerSec float64    `json:"rate_per_sec"`
	ETASeconds float64    `json:"eta_seconds"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// progressMeter turns (time, done) samples into a rate and an ETA. Not safe
// for concurrent use; its owner's lock guards it.
type progressMeter struct {
	samples []progressSample
	total   int64
}

type progressSample struct {
	at   time.Time
	done int64
}

const progressWindow = time.Minute

func (m *progressMeter) observe(now time.Time, done, total int64) {
	m.total = total
	if n := len(m.samples); n > 0 && now.Sub(m.samples[n-1].at) < time.Second/4 {
		m.samples[n-1].done = done // keep the sample count bounded under load
	} else {
		m.samples = append(m.samples, progressSample{now, done})
	}
	cut := 0
	for cut < len(m.samples)-2 && now.Sub(m.samples[cut].at) > progressWindow {
		cut++
	}
	m.samples = m.samples[cut:]
}

// progress returns Done, Total, the rate and the ETA.
func (m *progressMeter) progress() (done, total int64, rate, eta float64) {
	eta = -1
	n := len(m.samples)
	if n == 0 {
		return 0, m.total, 0, eta
	}
	first, last := m.samples[0], m.samples[n-1]
	done, total = last.done, m.total
	if el := last.at.Sub(first.at).Seconds(); el > 0 {
		rate = float64(last.done-first.done) / el
	}
	switch {
	case done >= total:
		eta = 0
	case rate > 0:
		eta = float64(total-done) / rate
	}
	return done, total, rate, eta
}

func componentStatus(name string, sup *supervisor) ComponentStatus {
	ss := sup.snapshot()
	return ComponentStatus{
		Name: name, State: ss.state, Restarts: ss.restarts, LastError: ss.lastErr,
		LastErrorAt: timePtr(ss.lastErrAt), Retries: ss.retries, NextAttemptAt: timePtr(ss.nextAt),
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Status returns a snapshot of every pipeline. Safe for concurrent use.
func (r *Runtime) Status() Status {
	now := time.Now()
	st := Status{Pipelines: []PipelineStatus{}}
	for _, p := range r.pipelines {
		ps := PipelineStatus{Name: p.spec.Name}
		if s := p.source; s != nil {
			ps.Source = s.status(now)
		}
		for _, k := range p.sinks {
			ps.Sinks = append(ps.Sinks, k.status())
		}
		st.Pipelines = append(st.Pipelines, ps)
	}
	return st
}

func (s *sourceRun) status(now time.Time) *SourceStatus {
	ss := &SourceStatus{
		ComponentStatus: componentStatus(s.spec.SourceName, s.sup),
		Read:            s.nRead.Load(),
		Produced:        s.nProduced.Load(),
	}
	// SnapshotProgress is a call into the source: made without s.mu held.
	s.mu.Lock()
	sp, hasProgress := s.src.(SnapshotProgresser)
	s.mu.Unlock()
	var done, total int64
	var active bool
	if hasProgress {
		done, total, active = sp.SnapshotProgress()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.position == nil:
		ss.Position = json.RawMessage("null")
	case json.Valid(s.position):
		ss.Position = json.RawMessage(s.position)
	default:
		ss.Position, _ = json.Marshal(string(s.position))
	}
	ss.CheckpointAt = timePtr(s.checkpointAt)
	if s.tracker != nil {
		n, age := s.tracker.lag(now)
		ss.Pending, ss.LagSeconds = n, age.Seconds()
	}
	if hasProgress && (active || total > 0) {
		s.snapshot.observe(now, done, total)
		d, t, rate, eta := s.snapshot.progress()
		phase := RebuildRunning
		if !active {
			phase = RebuildDone
		}
		ss.Snapshot = &Progress{Phase: phase, Done: d, Total: t, RatePerSec: rate, ETASeconds: eta}
	}
	return ss
}

func (s *sinkRun) status() SinkStatus {
	ks := SinkStatus{
		ComponentStatus: componentStatus(s.spec.Name, s.sup),
		Group:           s.spec.Group,
		Topics:          s.spec.Topics,
		Partitions:      []PartitionStatus{},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ks.Written, ks.Failed = s.nWritten, s.nFailed
	for tp, ps := range s.parts {
		ks.Partitions = append(ks.Partitions, PartitionStatus{
			Topic: tp.topic, Partition: tp.partition, Committed: ps.committed,
			HighWatermark: ps.hwm, Lag: max(ps.hwm-ps.committed, 0),
		})
	}
	slices.SortFunc(ks.Partitions, func(a, b PartitionStatus) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	if rb := s.rebuild; rb != nil {
		p := &Progress{Phase: rb.phase, ETASeconds: -1, StartedAt: timePtr(rb.startedAt), FinishedAt: timePtr(rb.finishedAt)}
		if rb.phase != RebuildPending {
			p.Done, p.Total, p.RatePerSec, p.ETASeconds = rb.meter.progress()
			p.Done, p.Total = rb.progress()
		}
		ks.Rebuild = p
	}
	return ks
}

// Ready reports nil when every source and sink is running and every one
// that implements Checker passes its check; else the problems, joined.
func (r *Runtime) Ready(ctx context.Context) error {
	var errs []error
	check := func(what string, sup *supervisor, c any) {
		ss := sup.snapshot()
		if ss.state != StateRunning {
			errs = append(errs, fmt.Errorf("%s: %s %s", what, ss.state, ss.lastErr))
			return
		}
		if ch, ok := c.(Checker); ok {
			if err := ch.Check(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
			}
		}
	}
	for _, p := range r.pipelines {
		if s := p.source; s != nil {
			s.mu.Lock()
			src := s.src
			s.mu.Unlock()
			check(p.spec.Name+"/source "+s.spec.SourceName, s.sup, src)
		}
		for _, k := range p.sinks {
			k.mu.Lock()
			sink := k.sink
			k.mu.Unlock()
			check(p.spec.Name+"/sink "+k.spec.Name, k.sup, sink)
		}
	}
	return errors.Join(errs...)
}
