package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topics lets the coordinator check partitions and resolve topic IDs
// (OffsetCommit/OffsetFetch v10 name topics by ID). The server implements it
// over its metadata; without it every partition is accepted and topic IDs
// are unknown. Its methods may be called with a group's lock held, so they
// must not call back into the Coordinator.
type Topics interface {
	PartitionExists(topic string, partition int32) bool
	TopicName(id [16]byte) (string, bool)
	TopicID(name string) ([16]byte, bool)
}

// Node is this broker as FindCoordinator reports it.
type Node struct {
	ID   int32
	Host string
	Port int32
}

// Option configures a Coordinator.
type Option func(*Coordinator)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Coordinator) { c.log = l } }

// WithRegisterer registers the coordinator's metrics on reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(c *Coordinator) { c.reg = reg } }

// WithConfig replaces DefaultConfig. New panics if cfg does not Validate
// (validate it when the broker's config is read).
func WithConfig(cfg Config) Option { return func(c *Coordinator) { c.cfg = cfg } }

// WithTopics sets the topic metadata used to validate commits and resolve topic IDs.
func WithTopics(t Topics) Option { return func(c *Coordinator) { c.topics = t } }

// WithNode makes Handle answer FindCoordinator with this node for every group.
func WithNode(n Node) Option { return func(c *Coordinator) { c.node = &n } }

// Coordinator is the consumer group coordinator. It is safe for concurrent use.
type Coordinator struct {
	store   OffsetStore
	cfg     Config
	log     *slog.Logger
	reg     prometheus.Registerer
	metrics *metrics
	topics  Topics
	node    *Node

	loadedCh chan struct{} // closed once Run replayed the store
	stopped  chan struct{} // closed when Run returns: waiters are released
	wake     chan struct{} // buffered(1): deadlines may have moved earlier

	mu     sync.RWMutex
	groups map[string]*group
}

// New returns a coordinator persisting to store. It serves requests (with
// COORDINATOR_LOAD_IN_PROGRESS) only once Run has replayed the store.
func New(store OffsetStore, opts ...Option) *Coordinator {
	c := &Coordinator{
		store:    store,
		cfg:      DefaultConfig(),
		log:      slog.New(slog.DiscardHandler),
		loadedCh: make(chan struct{}),
		stopped:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
		groups:   map[string]*group{},
	}
	for _, o := range opts {
		o(c)
	}
	if err := c.cfg.Validate(); err != nil {
		panic(fmt.Sprintf("group: invalid config: %v", err))
	}
	c.metrics = newMetrics(c.reg)
	return c
}

// NewRetired returns a coordinator that answers NOT_COORDINATOR to every
// request, as one whose Run has returned does, so clients look the
// coordinator up again. A clustered broker holds one while another broker
// leads the partition of __consumer_offsets. It has no store and needs no Run.
func NewRetired(opts ...Option) *Coordinator {
	c := New(nil, opts...)
	close(c.stopped)
	return c
}

// Loaded is closed once Run has replayed the store and requests are served.
func (c *Coordinator) Loaded() <-chan struct{} { return c.loadedCh }

// unavailable is the error code for requests the coordinator cannot serve
// now: COORDINATOR_LOAD_IN_PROGRESS before Run replayed the store,
// NOT_COORDINATOR once Run returned (clients look the coordinator up again);
// 0 while serving.
func (c *Coordinator) unavailable() int16 {
	select {
	case <-c.stopped:
		return kerr.NotCoordinator.Code
	default:
	}
	if !c.isLoaded() {
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

func (c *Coordinator) isLoaded() bool {
	select {
	case <-c.loadedCh:
		return true
	default:
		return false
	}
}

// Run replays the store, then drives the protocol's timers (session expiry,
// rebalance and sync timeouts, the initial rebalance delay, offset
// retention) until ctx is done, when it returns nil. It returns an error only
// if replaying the store fails. Once it returned, requests (and JoinGroup or
// SyncGroup calls still waiting) are answered NOT_COORDINATOR. Call it once;
// the caller owns the goroutine.
func (c *Coordinator) Run(ctx context.Context) error {
	defer close(c.stopped)
	if err := c.load(ctx); err != nil {
		return fmt.Errorf("loading __consumer_offsets: %w", err)
	}
	c.log.Info("group coordinator loaded", "groups", len(c.snapshot()))
	close(c.loadedCh)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextRetention := time.Now().Add(c.cfg.RetentionCheckEvery)
	for {
		now := time.Now()
		if !now.Before(nextRetention) {
			c.expireOffsets(ctx, now)
			nextRetention = now.Add(c.cfg.RetentionCheckEvery)
		}
		next := c.tick(ctx, now)
		if next.IsZero() || next.After(nextRetention) {
			next = nextRetention
		}
		timer.Reset(next.Sub(now))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wake:
		}
	}
}

// poke tells Run that a deadline may have moved earlier.
func (c *Coordinator) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// tick fires every due deadline and returns the earliest pending one.
func (c *Coordinator) tick(ctx context.Context, now time.Time) time.Time {
	var next time.Time
	var dead []*group
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.dirty || (!g.nextDue.IsZero() && !now.Before(g.nextDue)) {
			g.nextDue = c.timeoutsLocked(ctx, g, now)
			g.dirty = false
		}
		d := g.nextDue
		if g.state == StateDead {
			dead = append(dead, g)
		}
		g.mu.Unlock()
		if !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	for _, g := range dead {
		c.removeGroup(g)
	}
	return next
}

func (c *Coordinator) snapshot() []*group {
	c.mu.RLock()
	defer c.mu.RUnlock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	return gs
}

func (c *Coordinator) getGroup(id string) *group {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.groups[id]
}

// getOrCreateGroup returns the live group id, creating it Empty when missing
// (or when the map still holds a Dead one).
func (c *Coordinator) getOrCreateGroup(id string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[id]; g != nil {
		g.mu.Lock()
		dead := g.state == StateDead
		g.mu.Unlock()
		if !dead {
			return g
		}
	}
	g := newGroup(id, time.Now())
	c.groups[id] = g
	c.metrics.groups.WithLabelValues(StateEmpty.String()).Inc()
	return g
}

// removeGroup drops a Dead group from the map. Called without g.mu held.
func (c *Coordinator) removeGroup(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
}

func (c *Coordinator) setStateLocked(g *group, s State, now time.Time) {
	if g.state == s {
		return
	}
	if g.state != StateDead {
		c.metrics.groups.WithLabelValues(g.state.String()).Dec()
	}
	if s != StateDead {
		c.metrics.groups.WithLabelValues(s.String()).Inc()
	}
	c.log.Debug("group state", "group", g.id, "from", g.state.String(), "to", s.String(), "generation", g.generation)
	g.state = s
	g.stateSince = now
}

// Handle serves one request and returns its response, built with the
// request's version. It serves JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups, ListGroups,
// DeleteGroups, and FindCoordinator when WithNode was given; other kinds
// return ErrUnsupportedRequest. JoinGroup and SyncGroup may block until the
// group's rebalance completes; ctx bounds that wait (Handle then returns
// ctx.Err() and the member stays in the group until its timeouts remove
// it). Store appends are not cut short by ctx. Safe for concurrent use.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if v := req.GetVersion(); v < 0 || v > req.MaxVersion() {
		return nil, fmt.Errorf("%w: %s v%d", ErrUnsupportedRequest, kmsg.NameForKey(req.Key()), v)
	}
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return c.joinGroup(ctx, r)
	case *kmsg.SyncGroupRequest:
		return c.syncGroup(ctx, r)
	case *kmsg.HeartbeatRequest:
		return c.heartbeat(r), nil
	case *kmsg.LeaveGroupRequest:
		return c.leaveGroup(ctx, r), nil
	case *kmsg.OffsetCommitRequest:
		return c.offsetCommit(ctx, r), nil
	case *kmsg.OffsetFetchRequest:
		return c.offsetFetch(r), nil
	case *kmsg.OffsetDeleteRequest:
		return c.offsetDelete(ctx, r), nil
	case *kmsg.DescribeGroupsRequest:
		return c.describeGroups(r), nil
	case *kmsg.ListGroupsRequest:
		return c.listGroups(r), nil
	case *kmsg.DeleteGroupsRequest:
		return c.deleteGroups(ctx, r), nil
	case *kmsg.FindCoordinatorRequest:
		if c.node == nil || r.CoordinatorType != 0 {
			return nil, fmt.Errorf("%w: FindCoordinator type %d", ErrUnsupportedRequest, r.CoordinatorType)
		}
		return c.findCoordinator(r), nil
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedRequest, kmsg.NameForKey(req.Key()))
	}
}

// storeErrCode maps a failed Append to the code clients see.
func storeErrCode(err error) int16 {
	if errors.Is(err, ErrNotCoordinator) {
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// appendLocked persists records for g (held). It ignores ctx cancellation:
// memory must follow the log, so an append is never abandoned halfway.
func (c *Coordinator) appendLocked(ctx context.Context, g *group, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := c.store.Append(context.WithoutCancel(ctx), recs); err != nil {
		c.log.Warn("appending to __consumer_offsets failed", "group", g.id, "records", len(recs), "err", err)
		return err
	}
	return nil
}

// storeGroupLocked persists the group's metadata.
func (c *Coordinator) storeGroupLocked(ctx context.Context, g *group, now time.Time) error {
	return c.appendLocked(ctx, g, []Record{{Key: groupKey(g.id), Value: g.metadataValueLocked(now)}})
}

func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
