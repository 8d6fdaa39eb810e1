package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// controller is the leader-side state. It is active only while this node is
// the Raft leader and its FSM caught up (Barrier); requests reaching an
// inactive controller are answered NotController and retried by the sender
// at the current leader.
//
// Lock order: controller.mu -> Node.mu. mu is held across a proposal so
// every decision reads the image its predecessor produced.
type controller struct {
	n *Node

	mu       sync.Mutex
	r        *raft.Raft // the Raft instance while active
	active   bool
	lastSeen map[int32]time.Time // last heartbeat per broker, reset on each activation
	since    time.Time           // activation: the grace period starts here
}

func newController(n *Node) *controller { return &controller{n: n} }

// errNotActive is answered to requests reaching a non-controller.
var errNotActive = errors.New("cluster: this node is not the active controller")

// run is the controller goroutine: it owns fencing by session timeout and
// leader repair, until ctx is done (leadership lost or node stopping).
func (c *controller) run(ctx context.Context, r *raft.Raft) {
	log := c.n.log
	// Catch the FSM up with everything committed by earlier leaders.
	for {
		if err := r.Barrier(5 * time.Second).Error(); err == nil {
			break
		} else if r.State() != raft.Leader {
			return
		} else {
			log.Warn("controller barrier failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.mu.Lock()
	c.r, c.active, c.lastSeen, c.since = r, true, map[int32]time.Time{}, time.Now()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.active, c.r = false, nil
		c.mu.Unlock()
	}()
	log.Info("controller active", "session_timeout", c.n.set.session)

	if c.n.current().ClusterID == "" {
		c.mu.Lock()
		_, _, err := c.proposeLocked(ctx, &command{Op: opSetClusterID, ClusterID: uuid.NewString()})
		c.mu.Unlock()
		if err != nil {
			log.Warn("setting the cluster id failed", "err", err)
		}
	}

	tick := c.n.set.heartbeat / 2
	tick = min(max(tick, 10*time.Millisecond), 500*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var rebalance <-chan time.Time
	if c.n.set.rebalance > 0 {
		rt := time.NewTicker(c.n.set.rebalance)
		defer rt.Stop()
		rebalance = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.mu.Lock()
			c.tickLocked(ctx)
			c.mu.Unlock()
		case <-rebalance:
			c.mu.Lock()
			c.rebalanceLocked(ctx)
			c.mu.Unlock()
		}
	}
}

// tickLocked fences brokers whose session expired and repairs leaderless
// partitions.
func (c *controller) tickLocked(ctx context.Context) {
	im := c.n.current()
	now := time.Now()
	for _, id := range im.SortedBrokerIDs(true) {
		last, ok := c.lastSeen[id]
		if !ok || last.Before(c.since) {
			last = c.since
		}
		if now.Sub(last) <= c.n.set.session {
			continue
		}
		b := im.Brokers[id]
		if err := c.fenceLocked(ctx, b, "session timeout"); err != nil {
			c.n.log.Warn("fencing broker failed", "broker", id, "err", err)
		}
		im = c.n.current()
	}
	if changes := electChanges(im, c.unclean()); len(changes) > 0 {
		if _, _, err := c.proposeLocked(ctx, &command{Op: opChangePartitions, Changes: changes}); err != nil {
			c.n.log.Warn("electing leaders failed", "err", err)
			return
		}
		c.logChanges(im, changes, "election")
	}
}

// rebalanceLocked gives leadership back to preferred replicas.
func (c *controller) rebalanceLocked(ctx context.Context) {
	im := c.n.current()
	changes := preferredChanges(im)
	if len(changes) == 0 {
		return
	}
	if _, _, err := c.proposeLocked(ctx, &command{Op: opChangePartitions, Changes: changes}); err != nil {
		c.n.log.Warn("preferred leader election failed", "err", err)
		return
	}
	c.logChanges(im, changes, "preferred leader")
}

func (c *controller) unclean() uncleanFunc { return uncleanFromConfigs(c.n.cfg.Configs) }

// fenceLocked fences broker b and moves its leaderships and ISR slots.
func (c *controller) fenceLocked(ctx context.Context, b Broker, why string) error {
	im := c.n.current()
	changes := fenceChanges(im, b.ID, c.unclean())
	_, _, err := c.proposeLocked(ctx, &command{Op: opFenceBroker, BrokerID: b.ID, BrokerEpoch: b.Epoch, Changes: changes})
	if err != nil {
		return err
	}
	c.n.log.Info("broker fenced", "broker", b.ID, "broker_epoch", b.Epoch, "reason", why, "partitions_changed", len(changes))
	c.logChanges(im, changes, why)
	return nil
}

// logChanges logs every leader change (and ISR change at debug).
func (c *controller) logChanges(before *Image, changes []PartitionChange, why string) {
	for _, ch := range changes {
		old, _ := before.Lookup(ch.Topic, ch.Partition)
		if old.Leader != ch.Leader {
			c.n.log.Info("partition leader changed", "topic", ch.Topic, "partition", ch.Partition,
				"old_leader", old.Leader, "new_leader", ch.Leader, "leader_epoch", ch.LeaderEpoch, "isr", ch.ISR, "reason", why)
		} else {
			c.n.log.Debug("partition isr changed", "topic", ch.Topic, "partition", ch.Partition,
				"old_isr", old.ISR, "new_isr", ch.ISR, "partition_epoch", ch.PartitionEpoch, "reason", why)
		}
	}
}

// proposeLocked commits cmd through Raft and waits for its local apply. A
// refusal by the state machine is returned as *RequestError; losing
// leadership as errNotActive (the sender retries elsewhere).
func (c *controller) proposeLocked(ctx context.Context, cmd *command) (applyResult, uint64, error) {
	if !c.active || c.r == nil {
		return applyResult{}, 0, errNotActive
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return applyResult{}, 0, fmt.Errorf("encoding %s: %w", cmd.Op, err)
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	start := time.Now()
	f := c.r.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrEnqueueTimeout) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return applyResult{}, 0, fmt.Errorf("%w: %s: %v", errNotActive, cmd.Op, err)
		}
		return applyResult{}, 0, fmt.Errorf("committing %s: %w", cmd.Op, err)
	}
	c.n.metrics.commit.Observe(time.Since(start).Seconds())
	res, _ := f.Response().(applyResult)
	if res.Err != nil {
		return res, f.Index(), res.Err
	}
	return res, f.Index(), nil
}

// lock takes mu and checks the controller is active.
func (c *controller) lock() error {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return errNotActive
	}
	return nil
}

// register records a broker incarnation. The epoch is the sender's
// proposal raised above any earlier one; a live previous incarnation is
// fenced in the same entry.
func (c *controller) register(ctx context.Context, req *rpcRequest) (int64, error) {
	if err := c.lock(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	im := c.n.current()
	epoch := req.BrokerEpoch
	var changes []PartitionChange
	if old, ok := im.Brokers[req.BrokerID]; ok {
		epoch = max(epoch, old.Epoch+1)
		if !old.Fenced {
			changes = fenceChanges(im, old.ID, c.unclean())
		}
	}
	b := &Broker{ID: req.BrokerID, Host: req.Host, Port: req.Port, Epoch: epoch}
	if _, _, err := c.proposeLocked(ctx, &command{Op: opRegisterBroker, Broker: b, Changes: changes}); err != nil {
		return 0, err
	}
	c.lastSeen[req.BrokerID] = time.Now()
	c.n.log.Info("broker registered", "broker", b.ID, "host", b.Host, "port", b.Port, "broker_epoch", epoch)
	c.logChanges(im, changes, "re-registration")
	return epoch, nil
}

// heartbeat records a heartbeat; the first one after registering (or after
// being fenced) unfences the broker and gives it the offline partitions it
// can lead.
func (c *controller) heartbeat(ctx context.Context, req *rpcRequest) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer c.mu.Unlock()
	im := c.n.current()
	b, ok := im.Brokers[req.BrokerID]
	if !ok {
		return refuse(kerr.BrokerIDNotRegistered, "broker %d is not registered", req.BrokerID)
	}
	if b.Epoch != req.BrokerEpoch {
		return refuse(kerr.StaleBrokerEpoch, "broker %d heartbeats with epoch %d, registered %d", req.BrokerID, req.BrokerEpoch, b.Epoch)
	}
	c.lastSeen[b.ID] = time.Now()
	if !b.Fenced {
		return nil
	}
	changes := electChanges(withBroker(im, b.ID, false), c.unclean())
	if _, _, err := c.proposeLocked(ctx, &command{Op: opUnfenceBroker, BrokerID: b.ID, BrokerEpoch: b.Epoch, Changes: changes}); err != nil {
		return err
	}
	c.n.log.Info("broker unfenced", "broker", b.ID, "broker_epoch", b.Epoch, "partitions_changed", len(changes))
	c.logChanges(im, changes, "unfence")
	return nil
}

// shutdown is a broker's controlled shutdown: it is fenced at once.
func (c *controller) shutdown(ctx context.Context, req *rpcRequest) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer c.mu.Unlock()
	b, ok := c.n.current().Brokers[req.BrokerID]
	if !ok || b.Epoch != req.BrokerEpoch || b.Fenced {
		return nil // nothing of that incarnation left to move
	}
	delete(c.lastSeen, b.ID)
	return c.fenceLocked(ctx, b, "controlled shutdown")
}

// createTopic validates spec against the image, places the replicas and
// commits the topic (unless validateOnly). It returns the Raft index (the
// current version when validateOnly).
func (c *controller) createTopic(ctx context.Context, spec *TopicSpec, validateOnly bool) (uint64, error) {
	if err := c.lock(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	im := c.n.current()
	assignment, err := planTopic(im, spec, c.n.set, rand.IntN)
	if err != nil {
		return 0, err
	}
	if validateOnly {
		return im.Version, nil
	}
	_, idx, err := c.proposeLocked(ctx, &command{Op: opCreateTopic, Topic: spec.Name, TopicID: uuid.New(), Assignment: assignment, Configs: spec.Configs})
	if err != nil {
		return 0, err
	}
	c.n.log.Info("topic created", "topic", spec.Name, "partitions", len(assignment), "replication_factor", len(assignment[0]))
	return idx, nil
}

func (c *controller) deleteTopic(ctx context.Context, name string) (uint64, error) {
	if err := c.lock(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	if _, ok := c.n.current().Topics[name]; !ok {
		return 0, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	_, idx, err := c.proposeLocked(ctx, &command{Op: opDeleteTopic, Topic: name})
	if err == nil {
		c.n.log.Info("topic deleted", "topic", name)
	}
	return idx, err
}

func (c *controller) createPartitions(ctx context.Context, name string, total int32, validateOnly bool) (uint64, error) {
	if err := c.lock(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	im := c.n.current()
	assignment, err := planPartitions(im, name, total, rand.IntN)
	if err != nil {
		return 0, err
	}
	if validateOnly {
		return im.Version, nil
	}
	have := len(im.Topics[name].Partitions)
	_, idx, err := c.proposeLocked(ctx, &command{Op: opCreatePartitions, Topic: name, Partition: int32(have), Assignment: assignment})
	if err == nil {
		c.n.log.Info("partitions created", "topic", name, "from", have, "to", total)
	}
	return idx, err
}

func (c *controller) setConfigs(ctx context.Context, name string, configs map[string]string) (uint64, error) {
	if err := c.lock(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	if _, ok := c.n.current().Topics[name]; !ok {
		return 0, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	_, idx, err := c.proposeLocked(ctx, &command{Op: opSetConfigs, Topic: name, Configs: configs})
	return idx, err
}

func (c *controller) alterPartition(ctx context.Context, req *rpcRequest) (Partition, error) {
	if err := c.lock(); err != nil {
		return Partition{}, err
	}
	defer c.mu.Unlock()
	cmd := &command{Op: opAlterPartition, BrokerID: req.BrokerID, Topic: req.Topic, Partition: req.Partition,
		LeaderEpoch: req.LeaderEpoch, PartitionEpoch: req.PartitionEpoch, ISR: req.ISR}
	im := c.n.current()
	if _, err := checkAlterPartition(im, cmd); err != nil {
		return Partition{}, err
	}
	res, _, err := c.proposeLocked(ctx, cmd)
	if err != nil {
		return Partition{}, err
	}
	old, _ := im.Lookup(req.Topic, req.Partition)
	c.n.log.Debug("partition isr changed", "topic", req.Topic, "partition", req.Partition, "old_isr", old.ISR, "new_isr", res.Partition.ISR, "partition_epoch", res.Partition.PartitionEpoch, "reason", "alter_partition")
	return *res.Partition, nil
}

func (c *controller) allocateProducerIDs(ctx context.Context, count int64) (int64, error) {
	if err := c.lock(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	res, _, err := c.proposeLocked(ctx, &command{Op: opAllocateProducerIDs, Count: count})
	return res.First, err
}
