package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of a dead-letter record, besides the original record's own.
const (
	HeaderDLQError     = "sluice.error"
	HeaderDLQTopic     = "sluice.original.topic"
	HeaderDLQPartition = "sluice.original.partition"
	HeaderDLQOffset    = "sluice.original.offset"
	HeaderDLQSink      = "sluice.sink"
	// A source's too-large record in its dead-letter topic (key only) also
	// carries its size and the source.
	HeaderDLQSize   = "sluice.original.size"
	HeaderDLQSource = "sluice.source"
)

// Rebuild phases.
const (
	RebuildPending = "pending" // requested; starts at the sink's next poll
	RebuildRunning = "running" // replaying
	RebuildDone    = "done"
)

type topicPartition struct {
	topic     string
	partition int32
}

type partitionState struct {
	committed int64 // next offset to consume, as committed; -1 unknown
	hwm       int64 // high watermark from the last fetch; -1 unknown
}

type rebuildState struct {
	phase       string
	requestedAt time.Time
	startedAt   time.Time
	finishedAt  time.Time
	start       map[topicPartition]int64
	target      map[topicPartition]int64
	pos         map[topicPartition]int64
	meter       progressMeter
}

func (rb *rebuildState) progress() (done, total int64) {
	for tp, t := range rb.target {
		s := rb.start[tp]
		total += t - s
		done += min(max(rb.pos[tp], s), t) - s
	}
	return done, total
}

func (rb *rebuildState) caughtUp() bool {
	for tp, t := range rb.target {
		if rb.pos[tp] < t {
			return false
		}
	}
	return true
}

// sinkRun is one supervised sink. The supervisor's goroutine runs it; each
// run owns its Sink and a franz-go group client and is the only goroutine
// polling, writing and committing (single-owner loop). Other goroutines
// (admin API, status) only touch the fields under mu.
type sinkRun struct {
	rt       *Runtime
	pipeline string
	spec     SinkSpec
	log      *slog.Logger
	sup      *supervisor

	written, failed, dlq, connErrors prometheus.Counter
	lag                              *prometheus.GaugeVec // curried: topic, partition
	rebuildDone, rebuildTotal        prometheus.Gauge

	mu       sync.Mutex
	parts    map[topicPartition]*partitionState
	assigned map[string][]int32
	rebuild  *rebuildState
	sink     Sink // of the current run, for Check
	nWritten int64
	nFailed  int64
	wakePoll context.CancelFunc // ends the poll in progress, if any
}

func newSinkRun(rt *Runtime, pipeline string, s SinkSpec) *sinkRun {
	log := rt.log.With("pipeline", pipeline, "sink", s.Name)
	m := rt.metrics
	lv := prometheus.Labels{labelPipeline: pipeline, labelSink: s.Name}
	cv := prometheus.Labels{labelPipeline: pipeline, labelKind: "sink", labelConnector: s.Name}
	r := &sinkRun{
		rt: rt, pipeline: pipeline, spec: s, log: log,
		written: m.recordsWritten.With(lv), failed: m.recordsFailed.With(lv), dlq: m.recordsDLQ.With(lv),
		connErrors:  m.connErrors.With(cv),
		lag:         m.consumerLag.MustCurryWith(prometheus.Labels{labelPipeline: pipeline, labelSink: s.Name, labelGroup: s.Group}),
		rebuildDone: m.rebuildDone.With(lv), rebuildTotal: m.rebuildTotal.With(lv),
		parts: map[topicPartition]*partitionState{}, assigned: map[string][]int32{},
	}
	r.sup = newSupervisor(log, rt.cfg.Backoff, m.restarts.With(cv), r.connErrors)
	return r
}

func (s *sinkRun) supervise(ctx, hard context.Context) {
	s.log.Info("sink starting", "group", s.spec.Group, "topics", s.spec.Topics)
	s.sup.run(ctx, func(ctx context.Context) error { return s.runOnce(ctx, hard) })
	s.log.Info("sink stopped")
}

func (s *sinkRun) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range m {
		s.assigned[t] = append(s.assigned[t], ps...)
	}
	s.log.Info("partitions assigned", "partitions", m)
}

func (s *sinkRun) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range m {
		s.assigned[t] = slices.DeleteFunc(s.assigned[t], func(p int32) bool { return slices.Contains(ps, p) })
		if len(s.assigned[t]) == 0 {
			delete(s.assigned, t)
		}
	}
}

// runOnce opens the sink, joins the group and runs the poll/write/commit
// loop until ctx is done or something fails. Offsets are committed only
// after Write returned and dead letters are acknowledged.
func (s *sinkRun) runOnce(ctx, hard context.Context) error {
	sink, err := s.spec.NewSink()
	if err != nil {
		return fmt.Errorf("creating sink: %w", err)
	}
	if err := sink.Open(ctx); err != nil {
		_ = sink.Close(hard)
		return fmt.Errorf("opening sink: %w", err)
	}
	defer func() {
		s.mu.Lock()
		s.sink = nil
		s.mu.Unlock()
		if err := sink.Close(hard); err != nil {
			s.log.Warn("closing sink", "err", err)
		}
	}()
	opts := []kgo.Opt{
		kgo.ConsumerGroup(s.spec.Group),
		kgo.ConsumeTopics(s.spec.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onRevoked),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.FetchMaxWait(time.Second),
	}
	if s.spec.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.spec.InstanceID))
	}
	cl, err := s.rt.newClient(s.log, opts...)
	if err != nil {
		return err
	}
	// Close leaves the group (dynamic membership). AllowRebalance first: a
	// leave runs the revoke, which waits for the poll to be released.
	defer cl.Close()
	defer cl.AllowRebalance()
	adm := kadm.NewClient(cl)

	s.mu.Lock()
	s.sink = sink
	s.assigned = map[string][]int32{}
	if s.rebuild != nil && s.rebuild.phase == RebuildRunning {
		// The sink restarted mid-rebuild: its new instance knows nothing of
		// the replay, so the rebuild starts over.
		s.rebuild.phase = RebuildPending
	}
	s.mu.Unlock()
	s.sup.running()

	idle := 0
	var lagAt time.Time
	for {
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(lagAt) >= lagRefresh {
			s.refreshLag(ctx, adm)
			lagAt = time.Now()
		}
		// The poll also ends when a rebuild is requested (wakePoll), so an
		// idle sink starts it at once, and after lagRefresh, so the lag of
		// idle partitions stays current.
		pollCtx, cancelPoll := context.WithTimeout(ctx, lagRefresh)
		s.mu.Lock()
		s.wakePoll = cancelPoll
		s.mu.Unlock()
		fs := cl.PollRecords(pollCtx, s.spec.MaxPollRecords)
		s.mu.Lock()
		s.wakePoll = nil
		s.mu.Unlock()
		cancelPoll()
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		if s.logFetchErrors(fs) && fs.NumRecords() == 0 {
			idle++
			if !sleepCtx(ctx, s.rt.cfg.Backoff.delay(min(idle, 6))) {
				return nil
			}
		} else {
			idle = 0
		}
		var parts []kgo.FetchTopicPartition
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				parts = append(parts, p)
			}
		})
		// Write partition by partition, then commit every written one in
		// one request: offsets move only past records Write returned for.
		var written []kgo.FetchTopicPartition
		var werr error
		for _, p := range parts {
			if werr = s.writePartition(ctx, hard, cl, adm, sink, p); werr != nil {
				break
			}
			written = append(written, p)
		}
		if err := s.commit(hard, cl, written); err != nil {
			return err
		}
		if werr != nil {
			if ctx.Err() != nil {
				return nil // stopped mid-write: the rest is re-delivered later
			}
			return werr
		}
		// While the poll still blocks rebalances: start or finish a rebuild.
		if err := s.stepRebuild(ctx, hard, adm, cl, sink); err != nil {
			return err
		}
		cl.AllowRebalance()
	}
}

// lagRefresh is how often a sink reads its group's committed offsets and
// the high watermarks from the broker, so status and consumer_lag cover
// partitions with nothing to fetch (caught up, or owned by another member).
const lagRefresh = 10 * time.Second

// refreshLag updates every partition of the sink's topics from the broker:
// the group's committed offset (the log start when none) and the end
// offset. Failures only leave the previous values (logged at debug).
func (s *sinkRun) refreshLag(ctx context.Context, adm *kadm.Client) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, s.spec.Topics...)
	if err != nil {
		s.log.Debug("refreshing lag: listing end offsets", "err", err)
		return
	}
	starts, err := adm.ListStartOffsets(ctx, s.spec.Topics...)
	if err != nil {
		s.log.Debug("refreshing lag: listing start offsets", "err", err)
		return
	}
	committed, err := adm.FetchOffsets(ctx, s.spec.Group)
	if err != nil {
		s.log.Debug("refreshing lag: fetching committed offsets", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		tp := topicPartition{o.Topic, o.Partition}
		ps := s.parts[tp]
		if ps == nil {
			ps = &partitionState{}
			s.parts[tp] = ps
		}
		ps.hwm = max(ps.hwm, o.Offset)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
			ps.committed = c.At
		} else if st, ok := starts.Lookup(o.Topic, o.Partition); ok && st.Err == nil {
			ps.committed = st.Offset // nothing committed: the group starts at the earliest
		}
		s.lag.WithLabelValues(o.Topic, strconv.Itoa(int(o.Partition))).Set(float64(max(ps.hwm-ps.committed, 0)))
	})
}

// logFetchErrors logs (and counts) fetch errors; it reports whether any.
func (s *sinkRun) logFetchErrors(fs kgo.Fetches) bool {
	found := false
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		found = true
		s.connErrors.Inc()
		s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
	})
	return found
}

// writePartition writes one partition's records and sends rejected ones
// to the dead-letter topic; commit follows.
func (s *sinkRun) writePartition(ctx, hard context.Context, cl *kgo.Client, adm *kadm.Client, sink Sink, p kgo.FetchTopicPartition) error {
	b := Batch{Records: make([]Record, len(p.Records))}
	for i, kr := range p.Records {
		r := &b.Records[i]
		*r = Record{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Timestamp: kr.Timestamp}
		if len(kr.Headers) > 0 {
			r.Headers = make([]Header, len(kr.Headers))
			for j, h := range kr.Headers {
				r.Headers[j] = Header{Key: h.Key, Value: h.Value}
			}
		}
	}
	be, err := s.writeWithRetry(ctx, hard, sink, b)
	if err != nil {
		return err
	}
	nFailed := 0
	if be != nil {
		if err := s.deadLetter(ctx, hard, cl, adm, p.Records, be); err != nil {
			return err
		}
		nFailed = len(be.Failed)
	}
	s.written.Add(float64(len(b.Records) - nFailed))
	s.failed.Add(float64(nFailed))
	s.mu.Lock()
	s.nWritten += int64(len(b.Records) - nFailed)
	s.nFailed += int64(nFailed)
	s.mu.Unlock()
	s.log.Debug("batch written", "topic", p.Topic, "partition", p.Partition,
		"offset", p.Records[len(p.Records)-1].Offset, "records", len(b.Records), "rejected", nFailed)
	return nil
}

// commit commits, synchronously and in one request, the offsets past the
// last record of every written partition, then updates lag and rebuild
// progress.
func (s *sinkRun) commit(hard context.Context, cl *kgo.Client, written []kgo.FetchTopicPartition) error {
	if len(written) == 0 {
		return nil
	}
	lasts := make([]*kgo.Record, len(written))
	for i, p := range written {
		lasts[i] = p.Records[len(p.Records)-1]
	}
	if err := cl.CommitRecords(hard, lasts...); err != nil {
		return fmt.Errorf("committing offsets of %d partition(s): %w", len(lasts), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rb := s.rebuild
	for i, p := range written {
		next := lasts[i].Offset + 1
		tp := topicPartition{p.Topic, p.Partition}
		ps := s.parts[tp]
		if ps == nil {
			ps = &partitionState{}
			s.parts[tp] = ps
		}
		ps.committed, ps.hwm = next, p.HighWatermark
		s.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(p.HighWatermark-next, 0)))
		if rb != nil && rb.phase == RebuildRunning {
			if _, ok := rb.target[tp]; ok {
				rb.pos[tp] = max(rb.pos[tp], next)
			}
		}
	}
	if rb != nil && rb.phase == RebuildRunning {
		done, total := rb.progress()
		rb.meter.observe(time.Now(), done, total)
		s.rebuildDone.Set(float64(done))
	}
	return nil
}

// writeWithRetry writes b until the target takes it: a target that is down
// blocks the sink (logged, counted, backoff), it never skips. It returns
// the *BatchError of rejected records, or an error only once ctx is done.
func (s *sinkRun) writeWithRetry(ctx, hard context.Context, sink Sink, b Batch) (*BatchError, error) {
	for attempt := 0; ; attempt++ {
		// hard: a write in progress at shutdown finishes during the drain.
		err := sink.Write(hard, b)
		if err == nil {
			return nil, nil
		}
		var be *BatchError
		if errors.As(err, &be) {
			return be, nil
		}
		s.connErrors.Inc()
		d := s.rt.cfg.Backoff.delay(attempt)
		if attempt == 0 || attempt%10 == 0 {
			s.log.Warn("sink write failed; retrying", "err", err, "attempt", attempt+1, "backoff", d,
				"topic", b.Records[0].Topic, "partition", b.Records[0].Partition, "offset", b.Records[0].Offset)
		}
		s.sup.noteError(err)
		if !sleepCtx(ctx, d) {
			return nil, ctx.Err()
		}
	}
}

// deadLetter produces the rejected records to their dead-letter topics with
// acks=all, retrying until the broker takes them: only then may the batch
// be committed.
func (s *sinkRun) deadLetter(ctx, hard context.Context, cl *kgo.Client, adm *kadm.Client, recs []*kgo.Record, be *BatchError) error {
	var out []*kgo.Record
	for _, f := range be.Failed {
		if f.Index < 0 || f.Index >= len(recs) {
			return fmt.Errorf("sink reported record %d of a %d-record batch as rejected", f.Index, len(recs))
		}
		r := recs[f.Index]
		topic := s.spec.DLQTopic
		if topic == "" {
			topic = r.Topic + ".dlq"
		}
		msg := "unknown error"
		if f.Err != nil {
			msg = f.Err.Error()
		}
		hs := append(slices.Clone(r.Headers),
			kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(msg)},
			kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: HeaderDLQSink, Value: []byte(s.pipeline + "/" + s.spec.Name)},
		)
		out = append(out, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp})
		s.log.Warn("record rejected by the target; sent to the dead-letter topic",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "dlq_topic", topic, "err", msg)
	}
	for attempt := 0; ; attempt++ {
		err := func() error {
			for _, r := range out {
				if err := s.rt.ensureTopic(hard, adm, TopicSpec{Name: r.Topic}); err != nil {
					return err
				}
			}
			return cl.ProduceSync(hard, out...).FirstErr()
		}()
		if err == nil {
			s.dlq.Add(float64(len(out)))
			return nil
		}
		s.connErrors.Inc()
		s.log.Warn("producing to the dead-letter topic failed; retrying", "err", err, "attempt", attempt+1)
		if !sleepCtx(ctx, s.rt.cfg.Backoff.delay(attempt)) {
			return ctx.Err()
		}
	}
}

// requestRebuild queues a rebuild; the sink's loop starts it.
func (s *sinkRun) requestRebuild() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rb := s.rebuild; rb != nil && rb.phase != RebuildDone {
		return fmt.Errorf("%w: %s/%s", ErrRebuildInProgress, s.pipeline, s.spec.Name)
	}
	s.rebuild = &rebuildState{phase: RebuildPending, requestedAt: time.Now()}
	if s.wakePoll != nil {
		s.wakePoll()
	}
	s.log.Info("rebuild requested")
	return nil
}

// stepRebuild starts a pending rebuild once partitions are assigned, and
// finishes a running one once every partition caught up with the high
// watermark recorded at its start. Called from the poll loop while
// rebalances are blocked, as SetOffsets requires.
func (s *sinkRun) stepRebuild(ctx, hard context.Context, adm *kadm.Client, cl *kgo.Client, sink Sink) error {
	s.mu.Lock()
	rb := s.rebuild
	phase := ""
	if rb != nil {
		phase = rb.phase
	}
	assigned := len(s.assigned) > 0
	s.mu.Unlock()
	switch {
	case phase == RebuildPending && assigned:
		return s.startRebuild(ctx, adm, cl, sink, rb)
	case phase == RebuildRunning:
		s.mu.Lock()
		caughtUp := rb.caughtUp()
		s.mu.Unlock()
		if !caughtUp {
			return nil
		}
		if r, ok := sink.(Rebuilder); ok {
			if err := r.FinishRebuild(hard); err != nil {
				return fmt.Errorf("finishing rebuild: %w", err)
			}
		}
		s.mu.Lock()
		rb.phase, rb.finishedAt = RebuildDone, time.Now()
		done, total := rb.progress()
		s.mu.Unlock()
		s.log.Info("rebuild finished", "records", done, "total", total, "took", time.Since(rb.startedAt).Round(time.Millisecond))
	}
	return nil
}

func (s *sinkRun) startRebuild(ctx context.Context, adm *kadm.Client, cl *kgo.Client, sink Sink, rb *rebuildState) error {
	starts, err := adm.ListStartOffsets(ctx, s.spec.Topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("rebuild: listing start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, s.spec.Topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("rebuild: listing end offsets: %w", err)
	}
	if r, ok := sink.(Rebuilder); ok {
		if err := r.BeginRebuild(ctx); err != nil {
			return fmt.Errorf("beginning rebuild: %w", err)
		}
	}
	start, target, pos := map[topicPartition]int64{}, map[topicPartition]int64{}, map[topicPartition]int64{}
	seek := map[string]map[int32]kgo.EpochOffset{}
	starts.Each(func(o kadm.ListedOffset) {
		tp := topicPartition{o.Topic, o.Partition}
		start[tp], pos[tp] = o.Offset, o.Offset
		if seek[o.Topic] == nil {
			seek[o.Topic] = map[int32]kgo.EpochOffset{}
		}
		seek[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	})
	ends.Each(func(o kadm.ListedOffset) {
		target[topicPartition{o.Topic, o.Partition}] = o.Offset
	})
	cl.SetOffsets(seek)
	s.mu.Lock()
	rb.phase, rb.startedAt = RebuildRunning, time.Now()
	rb.start, rb.target, rb.pos = start, target, pos
	rb.meter = progressMeter{}
	done, total := rb.progress()
	rb.meter.observe(time.Now(), done, total)
	s.mu.Unlock()
	s.rebuildTotal.Set(float64(total))
	s.rebuildDone.Set(0)
	s.log.Info("rebuild started: replaying from the earliest offsets", "records", total)
	return nil
}

// sleepCtx sleeps d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
