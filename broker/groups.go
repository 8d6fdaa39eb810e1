package broker

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"log/slog"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/cluster"
	"github.com/sluicehq/sluice/broker/group"
)

// images is what the clustered group coordinator reads of the metadata
// quorum (cluster.Node implements it).
type images interface {
	Image() (*cluster.Image, <-chan struct{})
}

// clusterGroups is the group coordinator of a cluster member. Every group
// is coordinated by the leader of partition 0 of __consumer_offsets (the
// topic has one partition, replicated like any other): while this broker
// leads it, a live coordinator replays the partition and serves; otherwise a
// retired one answers NOT_COORDINATOR and FindCoordinator names the leader.
// A leader change (a new leader epoch) starts a fresh coordinator from the
// replicated log, so the coordinator moves with its partition.
type clusterGroups struct {
	meta    images
	self    int32
	store   group.TopicLog
	opts    []group.Option
	log     *slog.Logger
	retired *group.Coordinator
	// replicas is how many live brokers __consumer_offsets waits for
	// before it is created (Kafka's offsets.topic.replication.factor,
	// at most the number of voters), so it never starts with one replica
	// because one broker came up first.
	replicas int

	mu  sync.RWMutex
	cur *group.Coordinator // nil: not leading
}

func newClusterGroups(meta images, self int32, store group.TopicLog, log *slog.Logger, reg prometheus.Registerer, opts ...group.Option) *clusterGroups {
	g := &clusterGroups{meta: meta, self: self, store: store, log: log, retired: group.NewRetired(opts...), replicas: 1}
	g.opts = opts
	if reg != nil {
		// Each leadership gets a fresh coordinator whose metrics replace
		// the previous one's.
		g.opts = append(slices.Clone(opts), group.WithRegisterer(replacingRegisterer{reg}))
	}
	return g
}

// replacingRegisterer registers collectors, replacing one already
// registered under the same descriptors.
type replacingRegisterer struct{ prometheus.Registerer }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registerer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registerer.Unregister(are.ExistingCollector)
		return r.Registerer.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Run follows the leadership of __consumer_offsets-0 until ctx is done. It
// owns the live coordinator's goroutine and returns after it ended.
func (g *clusterGroups) Run(ctx context.Context) error {
	var (
		cancel context.CancelFunc
		done   chan struct{}
		epoch  int32 = -1
	)
	stop := func() {
		if cancel == nil {
			return
		}
		g.mu.Lock()
		g.cur = nil
		g.mu.Unlock()
		cancel()
		<-done
		cancel, done, epoch = nil, nil, -1
	}
	defer stop()
	for {
		im, changed := g.meta.Image()
		p, ok := im.Lookup(group.OffsetsTopic, 0)
		leading := ok && p.Leader == g.self
		switch {
		case leading && (cancel == nil || p.LeaderEpoch != epoch):
			stop()
			c := group.New(group.NewTopicStore(g.store), g.opts...)
			cctx, ccancel := context.WithCancel(ctx)
			cancel, done, epoch = ccancel, make(chan struct{}), p.LeaderEpoch
			go func(done chan struct{}) {
				defer close(done)
				if err := c.Run(cctx); err != nil && cctx.Err() == nil {
					g.log.Error("group coordinator stopped", "err", err)
				}
			}(done)
			g.mu.Lock()
			g.cur = c
			g.mu.Unlock()
			g.log.Info("coordinating consumer groups", "leader_epoch", p.LeaderEpoch)
		case !leading && cancel != nil:
			stop()
			g.log.Info("no longer coordinating consumer groups", "leader", p.Leader)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// Handle serves the group APIs: FindCoordinator from the metadata image,
// everything else through the live or retired coordinator.
func (g *clusterGroups) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if fc, ok := req.(*kmsg.FindCoordinatorRequest); ok {
		return g.findCoordinator(fc)
	}
	g.mu.RLock()
	c := g.cur
	g.mu.RUnlock()
	if c == nil {
		c = g.retired
	}
	return c.Handle(ctx, req)
}

// ensureOffsetsTopic creates __consumer_offsets through the controller on
// first need, as Kafka does on the first FindCoordinator.
func (g *clusterGroups) ensureOffsetsTopic() error {
	return g.store.EnsureInternalTopic(group.OffsetsTopic, 1, map[string]string{"cleanup.policy": "compact"})
}

func (g *clusterGroups) findCoordinator(req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	if v := req.GetVersion(); v < 0 || v > req.MaxVersion() {
		return nil, fmt.Errorf("%w: FindCoordinator v%d", group.ErrUnsupportedRequest, v)
	}
	if req.CoordinatorType != 0 {
		return nil, fmt.Errorf("%w: FindCoordinator type %d", group.ErrUnsupportedRequest, req.CoordinatorType)
	}
	im, _ := g.meta.Image()
	if _, ok := im.Lookup(group.OffsetsTopic, 0); !ok {
		if live := len(im.SortedBrokerIDs(true)); live < g.replicas {
			g.log.Debug("waiting for brokers before creating __consumer_offsets", "live", live, "want", g.replicas)
		} else if err := g.ensureOffsetsTopic(); err != nil {
			g.log.Warn("creating __consumer_offsets", "err", err)
		}
		im, _ = g.meta.Image()
	}
	code, node := coordinatorOf(im)
	return kafkaproto.FindCoordinatorResponse(req, code, node.ID, node.Host, node.Port), nil
}

// coordinatorOf names the leader of __consumer_offsets-0, or
// COORDINATOR_NOT_AVAILABLE when it has none (yet).
func coordinatorOf(im *cluster.Image) (int16, cluster.Broker) {
	none := cluster.Broker{ID: -1, Port: -1}
	p, ok := im.Lookup(group.OffsetsTopic, 0)
	if !ok || p.Leader < 0 || !im.Alive(p.Leader) {
		return kerr.CoordinatorNotAvailable.Code, none
	}
	return 0, im.Brokers[p.Leader]
}
