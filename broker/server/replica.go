package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/cluster"
)

// role is a partition replica's place in the cluster, as of the last image
// (or the last AlterPartition this node made as leader). Immutable.
type role struct {
	leader, leaderEpoch, partitionEpoch int32
	replicas, isr                       []int32
}

// followerState is what a leader knows of one follower's replica.
type followerState struct {
	leo            int64     // the follower's log end: its last fetch offset; -1 unknown
	lastCaughtUp   time.Time // last time its fetch offset reached the leader's log end
	lastFetch      time.Time
	leoAtLastFetch int64 // the leader's log end at lastFetch
}

// replicaState is a partition's replication bookkeeping.
type replicaState struct {
	mu        sync.Mutex
	followers map[int32]*followerState // leader only
	// truncatedFor is the leader epoch this follower replica last truncated
	// its log for (OffsetForLeaderEpoch); -1 none yet.
	truncatedFor int32
	// refusedAt is the image version under which the controller refused
	// an ISR change: no new attempt until a newer image (leader only).
	refusedAt uint64
	// lag is the follower's distance to the leader's high watermark as of
	// its last fetch (a metric).
	lag atomic.Int64
	// roleSince is when the role last changed: a follower rejoins the ISR
	// only on a fetch made after it (what it did before may be stale: it
	// may have been fenced since).
	roleSince time.Time
}

// leaderRole returns the partition's role when this node leads it.
func (s *Server) leaderRole(p *partition) (*role, error) {
	r := p.role.Load()
	if r == nil || r.leader != s.cfg.NodeID {
		leader := int32(-1)
		if r != nil {
			leader = r.leader
		}
		return nil, fmt.Errorf("%w: %s-%d is led by %d", kerr.NotLeaderForPartition, p.topic, p.index, leader)
	}
	if !s.cs.serving.Load() {
		return nil, fmt.Errorf("%w: this broker is not (yet) in service", kerr.NotLeaderForPartition)
	}
	return r, nil
}

// checkLeaderEpoch applies a request's current_leader_epoch (-1: not given).
func checkLeaderEpoch(r *role, current int32) error {
	switch {
	case current < 0 || current == r.leaderEpoch:
		return nil
	case current < r.leaderEpoch:
		return fmt.Errorf("%w: request epoch %d, leader epoch %d", kerr.FencedLeaderEpoch, current, r.leaderEpoch)
	default:
		return fmt.Errorf("%w: request epoch %d, leader epoch %d", kerr.UnknownLeaderEpoch, current, r.leaderEpoch)
	}
}

// setRole gives a local replica the role the image assigns it.
func (s *Server) setRole(p *partition, cp cluster.Partition) {
	self := s.cfg.NodeID
	old := p.role.Load()
	nr := &role{leader: cp.Leader, leaderEpoch: cp.LeaderEpoch, partitionEpoch: cp.PartitionEpoch,
		replicas: slices.Clone(cp.Replicas), isr: slices.Clone(cp.ISR)}
	if old != nil && old.leaderEpoch == nr.leaderEpoch && old.partitionEpoch >= nr.partitionEpoch && old.leader == nr.leader {
		return // our own AlterPartition already put us here (or later)
	}
	p.role.Store(nr)
	p.repl.mu.Lock()
	p.repl.roleSince = time.Now()
	p.repl.mu.Unlock()
	newEpoch := old == nil || old.leader != nr.leader || old.leaderEpoch != nr.leaderEpoch
	switch {
	case nr.leader == self && newEpoch:
		p.log.SetLeaderEpoch(nr.leaderEpoch)
		now := time.Now()
		p.repl.mu.Lock()
		p.repl.followers = map[int32]*followerState{}
		for _, id := range nr.replicas {
			if id != self {
				p.repl.followers[id] = &followerState{leo: -1, lastCaughtUp: now}
			}
		}
		p.repl.mu.Unlock()
		s.log.Info("leading partition", "topic", p.topic, "partition", p.index, "leader_epoch", nr.leaderEpoch, "isr", nr.isr, "log_end", p.leo.Load())
	case nr.leader != self && newEpoch:
		s.log.Info("following partition", "topic", p.topic, "partition", p.index, "leader", nr.leader, "leader_epoch", nr.leaderEpoch)
	}
	if nr.leader == self {
		s.updateHW(p)
	}
	p.wake() // acks=all waiters re-check their leadership
}

// updateHW raises a led partition's high watermark to the smallest log
// end of its in-sync replicas.
func (s *Server) updateHW(p *partition) {
	r := p.role.Load()
	if r == nil || r.leader != s.cfg.NodeID {
		return
	}
	hw := p.leo.Load()
	p.repl.mu.Lock()
	for _, id := range r.isr {
		if id == s.cfg.NodeID {
			continue
		}
		f := p.repl.followers[id]
		if f == nil || f.leo < 0 {
			hw = -1
			break
		}
		hw = min(hw, f.leo)
	}
	p.repl.mu.Unlock()
	if hw > p.hw.Load() {
		p.advanceHW(hw)
		p.wake()
	}
}

// advanceLEO records the local durable log end after an append returned.
func (p *partition) advanceLEO(end int64) {
	for {
		cur := p.leo.Load()
		if end <= cur || p.leo.CompareAndSwap(cur, end) {
			return
		}
	}
}

// followerFetched records a follower's fetch at offset (its log end) and
// may move the high watermark or ask for the ISR to grow.
func (s *Server) followerFetched(p *partition, r *role, replica int32, offset int64) {
	if !slices.Contains(r.replicas, replica) {
		return
	}
	now := time.Now()
	leo := p.leo.Load()
	p.repl.mu.Lock()
	f := p.repl.followers[replica]
	if f == nil {
		f = &followerState{leo: -1, lastCaughtUp: now}
		p.repl.followers[replica] = f
	}
	switch {
	case offset >= leo:
		f.lastCaughtUp = now
	case offset >= f.leoAtLastFetch && f.lastFetch.After(f.lastCaughtUp):
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.leoAtLastFetch = offset, now, leo
	p.repl.mu.Unlock()
	s.updateHW(p)
	if !slices.Contains(r.isr, replica) && offset >= p.hw.Load() {
		s.signal(s.cs.isrCheck)
	}
}

// waitReplicated blocks an acks=all produce until the high watermark
// covers end, the leadership is lost, or ctx ends.
func (s *Server) waitReplicated(ctx context.Context, p *partition, epoch int32, end int64) error {
	wake := make(chan struct{}, 1)
	p.watch(wake)
	defer p.unwatch(wake)
	for {
		if p.hw.Load() >= end {
			return nil
		}
		r := p.role.Load()
		if r == nil || r.leader != s.cfg.NodeID || r.leaderEpoch != epoch {
			return fmt.Errorf("%w: leadership of %s-%d moved while waiting for replicas", kerr.NotLeaderForPartition, p.topic, p.index)
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the in-sync replicas of %s-%d", kerr.RequestTimedOut, p.topic, p.index)
		case <-s.stopping:
			return fmt.Errorf("%w: broker shutting down", kerr.NotLeaderForPartition)
		}
	}
}

// manageISR shrinks the ISR of led partitions whose followers lag more
// than replica.lag.time.max.ms and grows it for followers that caught up,
// through the controller (AlterPartition). Owned by Run.
func (s *Server) manageISR(ctx context.Context) {
	lag := time.Duration(s.cfg.brokerInt("replica.lag.time.max.ms")) * time.Millisecond
	tick := time.NewTicker(max(lag/4, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.cs.isrCheck:
		}
		if !s.cs.serving.Load() {
			continue
		}
		for _, p := range s.ledPartitions() {
			s.reviewISR(ctx, p, lag)
		}
	}
}

// ledPartitions lists the local partitions this node leads.
func (s *Server) ledPartitions() []*partition {
	var out []*partition
	for _, p := range s.localPartitions() {
		if r := p.role.Load(); r != nil && r.leader == s.cfg.NodeID {
			out = append(out, p)
		}
	}
	return out
}

// reviewISR proposes the ISR a led partition should have, if it differs.
func (s *Server) reviewISR(ctx context.Context, p *partition, lag time.Duration) {
	r := p.role.Load()
	if r == nil || r.leader != s.cfg.NodeID {
		return
	}
	now := time.Now()
	hw := p.hw.Load()
	want := []int32{s.cfg.NodeID}
	p.repl.mu.Lock()
	for _, id := range r.replicas {
		if id == s.cfg.NodeID {
			continue
		}
		f := p.repl.followers[id]
		in := slices.Contains(r.isr, id)
		switch {
		case in && f != nil && now.Sub(f.lastCaughtUp) <= lag:
			want = append(want, id)
		case !in && f != nil && f.leo >= hw && now.Sub(f.lastCaughtUp) <= lag && f.lastFetch.After(p.repl.roleSince):
			want = append(want, id) // caught up: back in
		}
	}
	refusedAt := p.repl.refusedAt
	p.repl.mu.Unlock()
	version := s.image().Version
	slices.Sort(want)
	have := slices.Sorted(slices.Values(r.isr))
	if slices.Equal(want, have) || refusedAt >= version {
		return
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	np, err := s.cl.AlterPartition(actx, p.topic, p.index, r.leaderEpoch, r.partitionEpoch, want)
	if err != nil {
		if errors.As(err, new(*kerr.Error)) {
			// A refusal (stale epochs, ineligible replica): our view is
			// old; wait for the next image instead of asking again.
			p.repl.mu.Lock()
			p.repl.refusedAt = version
			p.repl.mu.Unlock()
		}
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("changing the ISR was refused; waiting for newer metadata", "topic", p.topic, "partition", p.index, "isr", have, "want", want, "err", err)
		}
		return
	}
	s.log.Info("ISR changed", "topic", p.topic, "partition", p.index, "from", have, "to", np.ISR)
	if len(np.ISR) < len(have) {
		s.metrics.isrShrinks.Inc()
	} else {
		s.metrics.isrExpands.Inc()
	}
	cur := p.role.Load()
	if cur != nil && cur.leaderEpoch == np.LeaderEpoch && cur.partitionEpoch < np.PartitionEpoch {
		p.role.Store(&role{leader: np.Leader, leaderEpoch: np.LeaderEpoch, partitionEpoch: np.PartitionEpoch,
			replicas: slices.Clone(np.Replicas), isr: slices.Clone(np.ISR)})
		s.updateHW(p)
		p.wake()
	}
}
