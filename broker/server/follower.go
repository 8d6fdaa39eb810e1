package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/kafkaproto"
)

// Replication, follower side: for each broker that leads partitions this
// node follows, one fetcher goroutine sends Fetch requests with this
// node's replica id and the leader epoch it follows, appends what the
// leader returns byte for byte (AppendReplica), and before fetching at a
// new leader epoch truncates a divergent tail (OffsetForLeaderEpoch).

const (
	replicaFetchBackoff = 200 * time.Millisecond
	replicaMaxBytes     = 10 << 20
)

// replicate runs the fetchers of this node's follower replicas until ctx
// is done (owned by Run). The set of fetchers follows the images.
func (s *Server) replicate(ctx context.Context) {
	var (
		cl       *kgo.Client
		wg       sync.WaitGroup
		fetchers = map[int32]context.CancelFunc{}
	)
	defer func() {
		for _, cancel := range fetchers {
			cancel()
		}
		wg.Wait()
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		leaders := map[int32]bool{}
		for _, p := range s.localPartitions() {
			if r := p.role.Load(); r != nil && r.leader >= 0 && r.leader != s.cfg.NodeID {
				leaders[r.leader] = true
			}
		}
		if cl == nil && len(leaders) > 0 {
			c, err := s.replicaClient()
			if err != nil {
				s.log.Error("replica fetch client", "err", err)
			} else {
				cl = c
			}
		}
		if cl != nil {
			for id, cancel := range fetchers {
				if !leaders[id] {
					cancel()
					delete(fetchers, id)
				}
			}
			for id := range leaders {
				if fetchers[id] == nil {
					fctx, cancel := context.WithCancel(ctx)
					fetchers[id] = cancel
					wg.Go(func() { s.fetchFrom(fctx, cl, id) })
				}
			}
		}
		retry := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			retry.Stop()
			return
		case <-s.cs.changed:
		case <-retry.C:
		}
		retry.Stop()
	}
}

// replicaClient is the client fetchers use: seeded with every broker of
// the image, it finds a leader by its id through Metadata.
func (s *Server) replicaClient() (*kgo.Client, error) {
	var seeds []string
	im := s.image()
	for _, id := range im.SortedBrokerIDs(true) {
		b := im.Brokers[id]
		if id != s.cfg.NodeID && b.Host != "" {
			seeds = append(seeds, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("no other broker is known yet")
	}
	return kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-replica-"+strconv.Itoa(int(s.cfg.NodeID))),
		kgo.DialTimeout(5*time.Second),
		kgo.RequestRetries(0),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
}

// localPartitions lists every partition replica open on this node.
func (s *Server) localPartitions() []*partition {
	var out []*partition
	for _, t := range s.allTopics() {
		for _, p := range s.partitionsOf(t) {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// followed is one partition a fetch request covers, with the epoch it was
// asked at.
type followed struct {
	p     *partition
	epoch int32
}

// fetchFrom replicates every partition led by leader until ctx is done.
func (s *Server) fetchFrom(ctx context.Context, cl *kgo.Client, leader int32) {
	wait := int32(s.cfg.brokerInt("replica.fetch.wait.max.ms"))
	maxBytes := int32(s.cfg.brokerInt("replica.fetch.max.bytes"))
	// The first failure after a success is a warning, repeats are debug.
	failing := false
	report := func(what string, err error) {
		if ctx.Err() != nil {
			return
		}
		if failing {
			s.log.Debug(what, "leader", leader, "err", err)
			return
		}
		failing = true
		s.log.Warn(what+" failed; retrying", "leader", leader, "err", err)
	}
	for ctx.Err() == nil {
		var fetch, truncate []followed
		for _, p := range s.localPartitions() {
			r := p.role.Load()
			if r == nil || r.leader != leader || r.leader == s.cfg.NodeID {
				continue
			}
			p.repl.mu.Lock()
			done := p.repl.truncatedFor == r.leaderEpoch
			p.repl.mu.Unlock()
			if done {
				fetch = append(fetch, followed{p, r.leaderEpoch})
			} else {
				truncate = append(truncate, followed{p, r.leaderEpoch})
			}
		}
		if len(fetch) == 0 && len(truncate) == 0 {
			sleepCtx(ctx, replicaFetchBackoff)
			continue
		}
		if len(truncate) > 0 {
			if err := s.truncateFollowers(ctx, cl, leader, truncate); err != nil {
				report("truncating follower replicas", err)
			}
			// Those truncated now join this round's fetch; the others
			// (the leader refused, e.g. it has not applied the image yet)
			// are asked again next round, after a backoff or a fetch.
			for _, f := range truncate {
				f.p.repl.mu.Lock()
				done := f.p.repl.truncatedFor == f.epoch
				f.p.repl.mu.Unlock()
				if done {
					fetch = append(fetch, f)
				}
			}
			if len(fetch) == 0 {
				sleepCtx(ctx, replicaFetchBackoff)
				continue
			}
		}
		if err := s.fetchOnce(ctx, cl, leader, fetch, wait, maxBytes); err != nil {
			report("replica fetch", err)
			sleepCtx(ctx, replicaFetchBackoff)
		} else {
			failing = false
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// truncateFollowers asks the leader where each partition's log diverges
// from ours (OffsetForLeaderEpoch with our latest epoch) and cuts our log
// there, Kafka's rule: to the leader's end offset for our latest epoch, or
// when the leader knows only an older epoch, to the smaller of both ends
// for that one.
func (s *Server) truncateFollowers(ctx context.Context, cl *kgo.Client, leader int32, parts []followed) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = s.cfg.NodeID
	type key struct {
		topic string
		part  int32
	}
	byKey := map[key]followed{}
	topics := map[string]int{}
	for _, f := range parts {
		latest := f.p.log.LatestEpoch()
		if latest < 0 {
			s.markTruncated(f, f.p.leo.Load())
			continue
		}
		i, ok := topics[f.p.topic]
		if !ok {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = f.p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			topics[f.p.topic] = i
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = f.p.index, f.epoch, latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		byKey[key{f.p.topic, f.p.index}] = f
	}
	if len(req.Topics) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kresp, err := cl.Broker(int(leader)).Request(rctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			f, ok := byKey[key{rt.Topic, rp.Partition}]
			if !ok {
				continue
			}
			if rp.ErrorCode != 0 {
				s.log.Debug("OffsetForLeaderEpoch refused", "topic", rt.Topic, "partition", rp.Partition, "err", kerr.ErrorForCode(rp.ErrorCode))
				continue
			}
			if err := s.truncateReplica(f, rp.LeaderEpoch, rp.EndOffset); err != nil {
				s.log.Error("truncating a follower replica", "topic", rt.Topic, "partition", rp.Partition, "err", err)
			}
		}
	}
	return nil
}

// truncateReplica cuts a follower replica where it diverges from the
// leader, who answered (epoch, end) for our latest epoch.
func (s *Server) truncateReplica(f followed, epoch int32, end int64) error {
	p := f.p
	// Exclusive: appends in flight (a deposed leader's, an older fetcher's)
	// finish first, and re-check the role after (they hold life shared).
	p.life.Lock()
	defer p.life.Unlock()
	if p.deleted {
		return nil
	}
	if r := p.role.Load(); r == nil || r.leaderEpoch != f.epoch {
		return nil // the role moved on; the next round asks again
	}
	leo := p.log.EndOffset()
	to := leo
	switch {
	case epoch < 0 || end < 0:
		to = min(leo, p.hw.Load()) // the leader knows none of our epochs
	default:
		to = min(leo, end)
		if epoch < p.log.LatestEpoch() {
			if _, mine := p.log.EndOffsetForEpoch(epoch); mine >= 0 {
				to = min(to, mine)
			}
		}
	}
	if to < leo {
		if err := p.log.TruncateTo(to); err != nil {
			return fmt.Errorf("truncating %s-%d to %d: %w", p.topic, p.index, to, err)
		}
		newEnd := p.log.EndOffset()
		s.log.Info("truncated a divergent follower tail", "topic", p.topic, "partition", p.index, "from", leo, "to", newEnd, "leader_epoch", f.epoch)
		p.leo.Store(newEnd)
		if p.hw.Load() > newEnd {
			p.hw.Store(newEnd)
		}
		p.appendMu.Lock()
		p.producers = map[int64]*producerState{}
		p.appendMu.Unlock()
		if err := p.rebuildProducers(s.log); err != nil {
			return fmt.Errorf("rebuilding producer state of %s-%d after truncation: %w", p.topic, p.index, err)
		}
	}
	s.markTruncated(f, p.log.EndOffset())
	return nil
}

// restartReplicaAt empties a follower replica whose log ends below the
// leader's log start and restarts it there (Kafka's
// truncateFullyAndStartAt).
func (s *Server) restartReplicaAt(f followed, offset int64) error {
	p := f.p
	p.life.Lock() // as truncateReplica: no append in flight or after
	defer p.life.Unlock()
	if p.deleted {
		return nil
	}
	if r := p.role.Load(); r == nil || r.leaderEpoch != f.epoch || r.leader == s.cfg.NodeID {
		return nil
	}
	s.log.Info("follower behind the leader's log start; restarting its log there", "topic", p.topic, "partition", p.index, "log_end", p.leo.Load(), "leader_start", offset)
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return fmt.Errorf("restarting %s-%d at %d: %w", p.topic, p.index, offset, err)
	}
	p.leo.Store(offset)
	p.hw.Store(offset)
	p.appendMu.Lock()
	p.producers = map[int64]*producerState{}
	p.appendMu.Unlock()
	return nil
}

func (s *Server) markTruncated(f followed, leo int64) {
	f.p.leo.Store(leo)
	f.p.repl.mu.Lock()
	f.p.repl.truncatedFor = f.epoch
	f.p.repl.mu.Unlock()
}

// fetchOnce sends one replica Fetch to leader and appends what it returns.
func (s *Server) fetchOnce(ctx context.Context, cl *kgo.Client, leader int32, parts []followed, wait, maxBytes int32) error {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = s.cfg.NodeID
	req.ReplicaState.ID = s.cfg.NodeID
	req.ReplicaState.Epoch = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = wait, 1, replicaMaxBytes
	req.SessionEpoch = -1
	idx := map[string]int{}
	for _, f := range parts {
		i, ok := idx[f.p.topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = f.p.topic, f.p.topicID
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			idx[f.p.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = f.p.index
		rp.CurrentLeaderEpoch = f.epoch
		rp.FetchOffset = f.p.leo.Load()
		rp.LogStartOffset = f.p.log.StartOffset()
		rp.PartitionMaxBytes = maxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Millisecond+10*time.Second)
	defer cancel()
	kresp, err := cl.Broker(int(leader)).Request(rctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	type topicPart struct {
		topic string
		part  int32
	}
	byTP := map[topicPart]followed{}
	names := map[[16]byte]string{}
	for _, f := range parts {
		byTP[topicPart{f.p.topic, f.p.index}] = f
		names[f.p.topicID] = f.p.topic
	}
	var failed error
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			name = names[rt.TopicID] // v13+ answers by topic id
		}
		for _, rp := range rt.Partitions {
			f, ok := byTP[topicPart{name, rp.Partition}]
			if !ok {
				continue
			}
			if err := s.applyFetched(ctx, f, rp); err != nil {
				failed = err
			}
		}
	}
	return failed
}

// applyFetched appends one partition's fetched batches and moves its log
// end and high watermark.
func (s *Server) applyFetched(ctx context.Context, f followed, rp kmsg.FetchResponseTopicPartition) error {
	p := f.p
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		if lso := rp.LogStartOffset; lso > p.leo.Load() {
			// Below the leader's log start: what we hold is deleted there.
			return s.restartReplicaAt(f, lso)
		}
		// Beyond the leader's log end: find the divergence again.
		p.repl.mu.Lock()
		p.repl.truncatedFor = -1
		p.repl.mu.Unlock()
		return fmt.Errorf("%s-%d: %w", p.topic, p.index, kerr.OffsetOutOfRange)
	default:
		return fmt.Errorf("%s-%d: %w", p.topic, p.index, kerr.ErrorForCode(rp.ErrorCode))
	}
	batches := wholeBatches(rp.RecordBatches)
	p.life.RLock()
	defer p.life.RUnlock()
	if p.deleted {
		return nil
	}
	if r := p.role.Load(); r == nil || r.leaderEpoch != f.epoch || r.leader == s.cfg.NodeID {
		return nil
	}
	if len(batches) > 0 {
		if _, err := p.log.AppendReplica(ctx, batches); err != nil {
			return fmt.Errorf("appending replicated batches to %s-%d: %w", p.topic, p.index, err)
		}
		now := time.Now().UnixMilli()
		p.appendMu.Lock()
		_ = kafkaproto.SplitBatches(batches, func(h kafkaproto.BatchHeader, _ []byte) bool {
			if h.Idempotent() && h.Attributes&kafkaproto.AttrControl == 0 {
				p.recordLocked(h, h.BaseOffset, h.BaseOffset+int64(h.LastOffsetDelta), now)
			}
			return true
		})
		p.appendMu.Unlock()
		s.metrics.replicatedBytes.Add(float64(len(batches)))
	}
	leo := p.log.EndOffset()
	p.leo.Store(leo)
	p.advanceHW(min(rp.HighWatermark, leo))
	p.repl.lag.Store(max(rp.HighWatermark-leo, 0))
	if lso := rp.LogStartOffset; lso > p.log.StartOffset() && lso <= p.hw.Load() {
		if err := p.log.DeleteRecordsBefore(lso); err != nil {
			s.log.Warn("following the leader's log start offset", "topic", p.topic, "partition", p.index, "offset", lso, "err", err)
		}
	}
	return nil
}

// wholeBatches drops a partial batch at the end of a fetch response.
func wholeBatches(b []byte) []byte {
	n := 0
	for n < len(b) {
		h, err := kafkaproto.ParseBatchHeader(b[n:])
		if err != nil || n+h.Size() > len(b) {
			break
		}
		n += h.Size()
	}
	return b[:n]
}
