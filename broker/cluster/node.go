package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures one quorum member, which is also one broker.
type Config struct {
	NodeID           int32
	ControllerListen string            // host:port bound for Raft + controller RPCs
	Quorum           []Voter           // ParseQuorum(--controller-quorum); must contain NodeID
	Dir              string            // Raft state (log, stable store, snapshots); created
	BrokerHost       string            // this broker's advertised Kafka listener
	BrokerPort       int32             //
	Configs          map[string]string // broker configs (see DESIGN.md "Configs")
	Logger           *slog.Logger      // nil discards
	Registerer       prometheus.Registerer
}

// Node is one member of the metadata quorum and one broker. Create it with
// New, then either Run it (once) or Close it. Image, WaitFor and the
// controller requests are safe for concurrent use.
type Node struct {
	cfg       Config
	set       settings
	log       *slog.Logger
	metrics   *metrics
	ln        net.Listener
	store     *boltStore
	snaps     *raft.FileSnapshotStore
	advertise string // this node's voter address
	rpc       *rpcClient
	ctrl      *controller

	raft    atomic.Pointer[raft.Raft] // set once Run started Raft
	started chan struct{}             // closed when raft is set
	stopped chan struct{}             // closed when Run stops serving requests

	controllerID atomic.Int32 // Raft leader, -1 unknown (local knowledge)
	brokerEpoch  atomic.Int64 // this incarnation's registration, 0 before

	mu      sync.Mutex // guards img and changed
	img     *Image
	changed chan struct{}

	runOnce   sync.Once
	closeOnce sync.Once

	// skipControlledShutdown is a test hook: Run ends without telling the
	// controller (as a crash would).
	skipControlledShutdown atomic.Bool
}

// New checks cfg, creates Dir, opens the Raft stores under it and binds the
// controller listener. Errors name the address or path at fault.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	set, err := parseSettings(cfg.Configs)
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node_id", cfg.NodeID)
	m := newMetrics()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cluster dir %s: %w", cfg.Dir, err)
	}
	store, err := openBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, newRaftLogger(log))
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("opening snapshot store in %s: %w", cfg.Dir, err)
	}
	ln, err := net.Listen("tcp", cfg.ControllerListen)
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("binding controller listener %s: %w", cfg.ControllerListen, err)
	}
	if err := m.register(cfg.Registerer); err != nil {
		_ = ln.Close()
		_ = store.Close()
		return nil, err
	}
	advertise, _ := cfg.voterAddr(cfg.NodeID)
	n := &Node{
		cfg: cfg, set: set, log: log, metrics: m, ln: ln, store: store, snaps: snaps,
		advertise: advertise, rpc: newRPCClient(),
		started: make(chan struct{}), stopped: make(chan struct{}),
		img: emptyImage(), changed: make(chan struct{}),
	}
	n.controllerID.Store(-1)
	n.ctrl = newController(n)
	return n, nil
}

// Close releases a Node that was never Run. After Run it does nothing.
func (n *Node) Close() error {
	var err error
	ran := true
	n.runOnce.Do(func() { ran = false })
	if ran {
		return nil
	}
	n.closeOnce.Do(func() {
		close(n.stopped)
		n.rpc.close()
		err = errors.Join(n.ln.Close(), n.store.Close())
	})
	return err
}

// Run starts Raft (bootstrapping the quorum from Config.Quorum when the
// directory holds no Raft state), serves the controller listener, registers
// this broker and heartbeats until ctx is done. On the way out it asks the
// controller for a controlled shutdown (bounded to a few seconds), then
// stops Raft. It returns only after Raft shut down, every goroutine ended
// and the listener closed. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	first := false
	n.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("cluster: Run called twice or after Close")
	}
	defer n.closeOnce.Do(func() {})

	hlog := newRaftLogger(n.log)
	m := newMux(n.ln, n.advertise, n.log)
	stream := newStreamLayer(m)
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: raftTransportTimeout, Logger: hlog,
	})
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(strconv.Itoa(int(n.cfg.NodeID)))
	conf.HeartbeatTimeout = raftHeartbeatTimeout
	conf.ElectionTimeout = raftElectionTimeout
	conf.LeaderLeaseTimeout = raftLeaderLeaseTimeout
	conf.CommitTimeout = raftCommitTimeout
	conf.SnapshotThreshold = 1024
	conf.TrailingLogs = 1024
	conf.Logger = hlog

	shutdownStores := func() {
		n.rpc.close()
		_ = transport.Close()
		m.close()
		_ = n.store.Close()
	}
	has, err := raft.HasExistingState(n.store, n.store, n.snaps)
	if err != nil {
		shutdownStores()
		return fmt.Errorf("reading raft state in %s: %w", n.cfg.Dir, err)
	}
	if !has {
		var servers []raft.Server
		for _, v := range n.cfg.Quorum {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(v.ID))), Address: raft.ServerAddress(v.Addr)})
		}
		if err := raft.BootstrapCluster(conf, n.store, n.store, n.snaps, transport, raft.Configuration{Servers: servers}); err != nil {
			shutdownStores()
			return fmt.Errorf("bootstrapping raft in %s: %w", n.cfg.Dir, err)
		}
		n.log.Info("cluster bootstrapped from the quorum", "voters", len(servers))
	}
	f := &fsm{current: n.current, publish: n.publish}
	r, err := raft.NewRaft(conf, f, n.store, n.store, n.snaps, transport)
	if err != nil {
		shutdownStores()
		return fmt.Errorf("starting raft: %w", err)
	}
	m.serveRPC = func(c net.Conn) { serveRPCConn(c, n.handleRemote) }
	n.raft.Store(r)
	close(n.started)
	m.start()

	// inner is cancelled once the broker said goodbye; it ends the
	// leadership watcher and the controller.
	inner, cancelInner := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.watchLeadership(inner, r)
	}()
	n.brokerLoop(ctx) // returns after the controlled shutdown

	close(n.stopped)
	if r.State() == raft.Leader && !n.skipControlledShutdown.Load() {
		// Hand leadership over instead of letting the others wait out an
		// election timeout (bounded by raft to one election timeout).
		if err := r.LeadershipTransfer().Error(); err != nil {
			n.log.Debug("leadership transfer on shutdown failed", "err", err)
		}
	}
	cancelInner()
	wg.Wait()
	errShutdown := r.Shutdown().Error()
	n.metrics.isController.Set(0)
	shutdownStores()
	if errShutdown != nil {
		return fmt.Errorf("shutting raft down: %w", errShutdown)
	}
	n.log.Info("cluster node stopped")
	return nil
}

// BrokerEpoch returns the epoch under which this broker registered in this
// process, 0 before registration succeeded. This broker is in service once
// the image shows it unfenced with this epoch (see Serving).
func (n *Node) BrokerEpoch() int64 { return n.brokerEpoch.Load() }

// Serving reports whether im shows this broker registered in this process
// and unfenced. An image replayed from before a restart can show an older
// incarnation alive; Serving is false for it.
func (n *Node) Serving(im *Image) bool {
	b, ok := im.Brokers[n.cfg.NodeID]
	e := n.brokerEpoch.Load()
	return ok && e != 0 && b.Epoch == e && !b.Fenced
}

// Image returns the current metadata image and a channel closed as soon as
// a newer image is available. The image is immutable and shared: nothing
// reachable from it may be modified.
func (n *Node) Image() (*Image, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.img, n.changed
}

// current returns the current image.
func (n *Node) current() *Image {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.img
}

// publish makes im the current image (with Controller set from local Raft
// knowledge) and wakes the waiters.
func (n *Node) publish(im *Image) {
	fenced := 0
	for _, b := range im.Brokers {
		if b.Fenced {
			fenced++
		}
	}
	n.mu.Lock()
	// Read the controller under mu: setController publishes under mu too,
	// so neither can overwrite the other's newer state.
	if ctrl := n.controllerID.Load(); im.Controller != ctrl {
		c := *im
		c.Controller = ctrl
		im = &c
	}
	n.swapLocked(im)
	n.metrics.version.Set(float64(im.Version))
	n.metrics.fenced.Set(float64(fenced))
	n.mu.Unlock()
}

// setController records the Raft leader and republishes the current image
// with it; it reports whether it changed.
func (n *Node) setController(id int32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.controllerID.Swap(id) == id {
		return false
	}
	c := *n.img
	c.Controller = id
	n.swapLocked(&c)
	return true
}

// swapLocked installs im and wakes the waiters of the previous one.
func (n *Node) swapLocked(im *Image) {
	n.img = im
	close(n.changed)
	n.changed = make(chan struct{})
}

// WaitFor blocks until the local image's Version >= v, or ctx ends
// (returning ctx.Err()), or the node stopped (ErrClosed).
func (n *Node) WaitFor(ctx context.Context, v uint64) error {
	for {
		im, ch := n.Image()
		if im.Version >= v {
			return nil
		}
		select {
		case <-ch:
		case <-n.stopped:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchLeadership keeps Image.Controller current and runs the controller
// while this node is the Raft leader. It returns when ctx is done, after
// the controller stopped.
func (n *Node) watchLeadership(ctx context.Context, r *raft.Raft) {
	obs := make(chan raft.Observation, 64)
	observer := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(observer)
	defer r.DeregisterObserver(observer)
	poll := time.NewTicker(500 * time.Millisecond) // observations may be dropped
	defer poll.Stop()

	var ctrlCancel context.CancelFunc
	var ctrlDone chan struct{}
	stopController := func() {
		if ctrlCancel != nil {
			ctrlCancel()
			<-ctrlDone
			ctrlCancel, ctrlDone = nil, nil
			n.metrics.isController.Set(0)
		}
	}
	defer stopController()

	refresh := func() {
		_, id := r.LeaderWithID()
		leader := int32(-1)
		if id != "" {
			if v, err := strconv.ParseInt(string(id), 10, 32); err == nil {
				leader = int32(v)
			}
		}
		if n.setController(leader) {
			n.log.Info("controller changed", "controller", leader)
		}
		isLeader := r.State() == raft.Leader
		switch {
		case isLeader && ctrlCancel == nil:
			var cctx context.Context
			cctx, ctrlCancel = context.WithCancel(ctx)
			ctrlDone = make(chan struct{})
			n.metrics.isController.Set(1)
			go func(done chan struct{}) {
				defer close(done)
				n.ctrl.run(cctx, r)
			}(ctrlDone)
		case !isLeader && ctrlCancel != nil:
			stopController()
		}
	}
	refresh()
	for {
		select {
		case <-ctx.Done():
			return
		case <-obs:
		case <-r.LeaderCh():
		case <-poll.C:
		}
		refresh()
	}
}
