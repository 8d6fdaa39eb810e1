package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// PositionValuer is an optional Source capability: a number for a position
// (an LSN, a binlog offset), exported as checkpoint_position. Without it the
// runtime uses the position itself when it is a JSON number, else the first
// numeric member of a JSON object, else leaves the gauge alone.
type PositionValuer interface {
	PositionValue(p Position) (float64, bool)
}

// SnapshotProgresser is an optional Source capability: how far an initial
// snapshot is (rows done of total, total an estimate), shown with a rate and
// an ETA by `sluice status`. active is false when no snapshot runs.
type SnapshotProgresser interface {
	SnapshotProgress() (done, total int64, active bool)
}

// sourceRun is the supervised source of one pipeline. One goroutine (the
// supervisor's) runs it; each run owns its Source, its franz-go client and
// one acker goroutine, and waits for the acker before returning.
type sourceRun struct {
	rt   *Runtime
	spec PipelineSpec
	log  *slog.Logger
	sup  *supervisor
	key  []byte // __sluice_offsets key

	read, produced, filtered prometheus.Counter
	ackLag                   prometheus.Observer
	checkpointGauge          prometheus.Gauge
	lagGauge, pendingGauge   prometheus.Gauge
	tooLarge                 prometheus.Counter // records_too_large_total

	nRead, nProduced atomic.Int64

	mu           sync.Mutex
	position     Position  // last stored and acknowledged
	checkpointAt time.Time // when
	tracker      *ackTracker
	src          Source // of the current run, for Check and snapshot progress
	snapshot     progressMeter
}

func newSourceRun(rt *Runtime, p PipelineSpec, _ *transformChain) *sourceRun {
	log := rt.log.With("pipeline", p.Name, "source", p.SourceName)
	m := rt.metrics
	lv := prometheus.Labels{labelPipeline: p.Name, labelSource: p.SourceName}
	cv := prometheus.Labels{labelPipeline: p.Name, labelKind: "source", labelConnector: p.SourceName}
	s := &sourceRun{
		rt: rt, spec: p, log: log, key: PositionKey(p.Name, p.SourceName),
		read: m.recordsRead.With(lv), produced: m.recordsProduced.With(lv), filtered: m.recordsFiltered.With(lv),
		ackLag: m.ackLag.With(lv), checkpointGauge: m.checkpoint.With(lv),
		lagGauge: m.sourceLag.With(lv), pendingGauge: m.sourcePending.With(lv),
		tooLarge: m.tooLarge.With(lv),
	}
	s.sup = newSupervisor(log, rt.cfg.Backoff, m.restarts.With(cv), m.connErrors.With(cv))
	return s
}

func (s *sourceRun) supervise(ctx, hard context.Context) {
	s.log.Info("source starting")
	s.sup.run(ctx, func(ctx context.Context) error { return s.runOnce(ctx, hard) })
	s.log.Info("source stopped")
}

// runOnce is one run: load the position, open the source, read, transform,
// produce, checkpoint. On ctx done (or any failure) it stops reading, waits
// for in-flight records (bounded by hard), stores and acknowledges the last
// durable position, then closes the source.
func (s *sourceRun) runOnce(ctx, hard context.Context) (err error) {
	cl, err := s.rt.newClient(s.log,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 of the key, as the Java client
		// No linger: a CDC change should not wait; records accumulate into
		// batches anyway while the previous produce request is in flight.
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := ensureOffsetsTopic(ctx, adm); err != nil {
		return err
	}
	stored, err := loadPositions(ctx, adm, func(o ...kgo.Opt) (*kgo.Client, error) { return s.rt.newClient(s.log, o...) })
	if err != nil {
		return err
	}
	from, err := DecodePosition(stored[string(s.key)])
	if err != nil {
		return fmt.Errorf("reading the stored position: %w", err)
	}
	src, err := s.spec.NewSource()
	if err != nil {
		return fmt.Errorf("creating source: %w", err)
	}
	if err := src.Open(ctx, from); err != nil {
		_ = src.Close(hard)
		return fmt.Errorf("opening source at %s: %w", positionText(from), err)
	}
	s.log.Info("source open", "position", positionText(from))
	decl, _ := src.(TopicDeclarer)
	for _, t := range s.spec.Topics {
		if err := s.ensureTopic(ctx, adm, decl, t); err != nil {
			_ = src.Close(hard)
			return err
		}
	}
	tc, _ := newTransformChain(s.spec.Transforms) // validated by NewRuntime
	tr := newAckTracker()
	s.mu.Lock()
	s.tracker, s.src, s.position = tr, src, from
	s.mu.Unlock()
	s.sup.running()
	defer func() {
		s.mu.Lock()
		s.tracker, s.src = nil, nil
		s.mu.Unlock()
		if cerr := src.Close(hard); cerr != nil {
			s.log.Warn("closing source", "err", cerr)
		}
	}()
	// The health checker runs while the source is open (deferred after the
	// Close above, so it stops first).
	if ch, ok := src.(Checker); ok {
		stopCheck := make(chan struct{})
		var checker sync.WaitGroup
		checker.Go(func() { s.checkLoop(ctx, ch, stopCheck) })
		defer func() {
			close(stopCheck)
			checker.Wait()
		}()
	}

	// readCtx stops the read loop on shutdown and on an acker failure.
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	var ackErr error
	stopAcker := make(chan struct{})
	var acker sync.WaitGroup
	acker.Go(func() {
		for {
			select {
			case <-stopAcker:
				return
			case <-tr.ready:
				if err := s.checkpoint(hard, cl, src, tr); err != nil {
					ackErr = err
					stopRead()
					return
				}
			}
		}
	})

	lp := &largeProducer{s: s, adm: adm}
	defer lp.close()
	readErr := s.readLoop(readCtx, hard, cl, lp, src, tc, tr)

	// Drain: every buffered record is produced (or fails), then the final
	// durable position is stored and acknowledged.
	if ferr := cl.Flush(hard); ferr != nil {
		s.log.Warn("drain: flushing produced records", "err", ferr)
	}
	close(stopAcker)
	acker.Wait()
	if ackErr == nil {
		ackErr = s.checkpoint(hard, cl, src, tr)
	}
	switch {
	case ackErr != nil:
		return ackErr
	case readErr != nil && ctx.Err() == nil:
		return readErr
	}
	return nil
}

// readLoop reads, transforms and produces until ctx is done or reading or
// producing fails.
func (s *sourceRun) readLoop(ctx, hard context.Context, cl *kgo.Client, lp *largeProducer, src Source, tc *transformChain, tr *ackTracker) error {
	adm := lp.adm
	decl, _ := src.(TopicDeclarer)
	// Topics this run made sure of: the per-record check stays a map lookup
	// without the runtime's lock or a TopicSpec built per record.
	known := map[string]bool{}
	for {
		if err := tr.err(); err != nil {
			return err
		}
		b, err := src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			return fmt.Errorf("reading source: %w", err)
		}
		now := time.Now()
		s.read.Add(float64(len(b.Records)))
		s.nRead.Add(int64(len(b.Records)))
		recs, dropped := tc.apply(b.Records)
		s.filtered.Add(float64(dropped))
		var oldest time.Time
		for i := range recs {
			r := &recs[i]
			if !known[r.Topic] {
				if err := s.ensureTopic(ctx, adm, decl, r.Topic); err != nil {
					return err
				}
				known[r.Topic] = true
			}
			if !r.Timestamp.IsZero() && (oldest.IsZero() || r.Timestamp.Before(oldest)) {
				oldest = r.Timestamp
			}
		}
		if oldest.IsZero() && len(recs) > 0 {
			oldest = now
		}
		seq := tr.add(len(recs), b.Position, now, oldest)
		// One allocation for the batch's records and one promise for all of
		// them (franz-go keeps each *kgo.Record until its promise ran).
		krs := make([]kgo.Record, len(recs))
		done := s.produceDone(seq, tr, 0)
		for i := range recs {
			r, kr := &recs[i], &krs[i]
			kr.Topic, kr.Key, kr.Value, kr.Timestamp = r.Topic, r.Key, r.Value, r.Timestamp
			if r.Partition >= 0 {
				kr.Partition = r.Partition
			}
			if len(r.Headers) > 0 {
				kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
				for j, h := range r.Headers {
					kr.Headers[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
				}
			}
			if size := recordSize(kr); size > mainBatchLimit-1024 {
				if err := lp.produce(ctx, hard, cl, kr, size, seq, tr); err != nil {
					var tle *TooLargeError
					if errors.As(err, &tle) {
						s.tooLarge.Inc()
					}
					return err
				}
				continue
			}
			// hard, not ctx: a batch read before shutdown is produced in full
			// during the drain.
			cl.Produce(hard, kr, done)
		}
	}
}

// checkLoop probes the open source every CheckInterval until stop is
// closed or ctx is done; each result goes to the supervisor (retrying or
// degraded in Status, and back to running).
func (s *sourceRun) checkLoop(ctx context.Context, ch Checker, stop <-chan struct{}) {
	every := s.rt.cfg.CheckInterval
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, min(every, 10*time.Second))
		err := ch.Check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.sup.checked(err, time.Now().Add(every))
	}
}

func (s *sourceRun) ensureTopic(ctx context.Context, adm *kadm.Client, decl TopicDeclarer, topic string) error {
	spec := TopicSpec{Name: topic, Configs: map[string]string{"cleanup.policy": "compact"}}
	if decl != nil {
		spec = decl.TopicSpec(topic)
		spec.Name = topic
	}
	if spec.Partitions <= 0 {
		spec.Partitions = s.spec.Partitions
	}
	if spec.ReplicationFactor <= 0 {
		spec.ReplicationFactor = s.spec.ReplicationFactor
	}
	return s.rt.ensureTopic(ctx, adm, spec)
}

// checkpoint stores the durable position the tracker holds, if any, then
// acknowledges it to the source. It returns the tracker's produce failure
// after checkpointing what was durable before it.
func (s *sourceRun) checkpoint(ctx context.Context, cl *kgo.Client, src Source, tr *ackTracker) error {
	pos, readAt, failed := tr.take()
	n, age := tr.lag(time.Now())
	s.pendingGauge.Set(float64(n))
	s.lagGauge.Set(age.Seconds())
	if pos != nil {
		// Invariant: ack after durable write. Every record up to pos is
		// acknowledged by the broker (acks=all, ackTracker), and pos is in
		// __sluice_offsets, before the source may advance upstream.
		if err := storePosition(ctx, cl, s.key, pos); err != nil {
			return err
		}
		if err := src.Ack(ctx, pos); err != nil {
			return fmt.Errorf("acknowledging position %s: %w", positionText(pos), err)
		}
		s.ackLag.Observe(time.Since(readAt).Seconds())
		if v, ok := s.positionValue(src, pos); ok {
			s.checkpointGauge.Set(v)
		}
		s.mu.Lock()
		s.position, s.checkpointAt = pos, time.Now()
		s.mu.Unlock()
		s.log.Debug("checkpoint", "position", positionText(pos))
	}
	return failed
}

func (s *sourceRun) positionValue(src Source, p Position) (float64, bool) {
	if pv, ok := src.(PositionValuer); ok {
		return pv.PositionValue(p)
	}
	var n float64
	if json.Unmarshal(p, &n) == nil {
		return n, true
	}
	if o, ok := parseObject(p); ok {
		for _, f := range o.fields {
			if json.Unmarshal(f.raw, &n) == nil {
				return n, true
			}
		}
	}
	return 0, false
}

// positionText renders a position for logs and status: as is when it is
// JSON, else quoted.
func positionText(p Position) string {
	switch {
	case p == nil:
		return "start"
	case json.Valid(p):
		return string(p)
	default:
		return fmt.Sprintf("%q", []byte(p))
	}
}
