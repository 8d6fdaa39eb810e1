package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/cluster"
	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/server"
)

// Config configures one broker.
type Config struct {
	DataDir            string // created when missing
	Listen             string // host:port to accept clients on
	AdvertisedListener string // host:port clients are told; default: the bound Listen address
	NodeID             int32  // broker id in Metadata; default 1
	// ControllerListen and ControllerQuorum make the broker a cluster
	// member: the address of its metadata quorum listener and every voter
	// as ID@HOST:PORT,... (cluster.ParseQuorum). Both or neither.
	ControllerListen string
	ControllerQuorum string
	// Configs are Kafka broker configs (server.properties keys), including
	// group.* and offsets.* for the group coordinator.
	Configs map[string]string
	// TLS makes the listener TLS-only (server.LoadTLSConfig); nil: plaintext.
	TLS *tls.Config
	// SASLMechanisms makes the listener require SASL (PLAIN, SCRAM-SHA-256,
	// SCRAM-SHA-512); empty: no authentication.
	SASLMechanisms []string
	Logger         *slog.Logger          // nil discards
	Registerer     prometheus.Registerer // nil: no metrics
}

// Broker is one running broker. Build it with New, serve with Run.
type Broker struct {
	srv *server.Server
	// coord runs the group coordinator: a single node's, or a cluster
	// member's that follows the leader of __consumer_offsets-0.
	coord interface {
		Run(ctx context.Context) error
	}
	node *cluster.Node // nil on a single node
	ln   net.Listener
	log  *slog.Logger
}

// New prepares a broker: it checks and creates the data directory, opens
// the logs and binds the listener (and, for a cluster member, the
// controller listener). Errors name the path or address at fault. The
// caller must call Run or Close.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeID == 0 {
		cfg.NodeID = 1
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	var voters []cluster.Voter
	if cfg.ControllerListen != "" || cfg.ControllerQuorum != "" {
		v, err := clusterVoters(cfg)
		if err != nil {
			return nil, err
		}
		voters = v
	}
	gcfg, err := group.ConfigFromKafka(cfg.Configs)
	if err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	adv := cfg.AdvertisedListener
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, portStr, _ := net.SplitHostPort(adv)
	host = server.AdvertisableHost(host)
	port, _ := strconv.Atoi(portStr)

	var node *cluster.Node
	srvOpts := []server.Option{server.WithRegisterer(cfg.Registerer),
		server.WithGroupContext(func(ctx context.Context, clientID, host string) context.Context {
			return group.WithClient(ctx, clientID, "/"+host)
		})}
	if voters != nil {
		node, err = cluster.New(cluster.Config{
			NodeID: cfg.NodeID, ControllerListen: cfg.ControllerListen, Quorum: voters,
			Dir:        filepath.Join(cfg.DataDir, clusterDirName),
			BrokerHost: host, BrokerPort: int32(port), Configs: cfg.Configs,
			Logger: cfg.Logger.With("component", "cluster"), Registerer: cfg.Registerer,
		})
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		srvOpts = append(srvOpts, server.WithCluster(node))
	}

	// The coordinator stores offsets through the server and the server
	// routes group requests to the coordinator: the proxy breaks the cycle.
	proxy := &coordinatorProxy{}
	srvOpts = append(srvOpts, server.WithGroupCoordinator(proxy))
	srv, err := server.New(server.Config{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, AdvertisedAddr: cfg.AdvertisedListener,
		Configs: cfg.Configs, Logger: cfg.Logger, TLS: cfg.TLS, SASLMechanisms: cfg.SASLMechanisms,
	}, srvOpts...)
	if err != nil {
		_ = ln.Close()
		if node != nil {
			_ = node.Close()
		}
		return nil, fmt.Errorf("opening broker data dir %s: %w", cfg.DataDir, err)
	}
	opts := []group.Option{
		group.WithTopics(srv), group.WithConfig(gcfg), group.WithLogger(cfg.Logger.With("component", "group")),
	}
	b := &Broker{srv: srv, node: node, ln: ln, log: cfg.Logger}
	if node != nil {
		cg := newClusterGroups(node, cfg.NodeID, srv, cfg.Logger.With("component", "group"), cfg.Registerer, opts...)
		cg.replicas = min(len(voters), 3)
		if v, err := strconv.Atoi(cfg.Configs["offsets.topic.replication.factor"]); err == nil && v > 0 {
			cg.replicas = min(len(voters), v)
		}
		proxy.set(cg)
		b.coord = cg
	} else {
		if cfg.Registerer != nil {
			opts = append(opts, group.WithRegisterer(cfg.Registerer))
		}
		opts = append(opts, group.WithNode(group.Node{ID: cfg.NodeID, Host: host, Port: int32(port)}))
		c := group.New(group.NewTopicStore(srv), opts...)
		proxy.set(c)
		b.coord = c
	}
	return b, nil
}

// clusterDirName is the metadata quorum's directory inside the data dir.
const clusterDirName = "__cluster_metadata"

// Addr is the address the broker accepts connections on.
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully and returns nil,
// or returns the error that stopped it. Run may be called once. A cluster
// member stops its quorum member last: the controlled shutdown moves its
// leaderships while the server still answers.
func (b *Broker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var coordErr, nodeErr error
	nodeCtx, stopNode := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNode()
	if b.node != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodeErr = b.node.Run(nodeCtx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		coordErr = b.coord.Run(ctx)
	}()
	err := b.srv.Run(ctx, b.ln)
	stopNode()
	wg.Wait()
	if coordErr != nil && !errors.Is(coordErr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("group coordinator: %w", coordErr))
	}
	if nodeErr != nil && !errors.Is(nodeErr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("cluster: %w", nodeErr))
	}
	return err
}

// Close releases a broker that was never Run.
func (b *Broker) Close() error {
	_ = b.ln.Close()
	err := b.srv.Close()
	if b.node != nil {
		err = errors.Join(err, b.node.Close())
	}
	return err
}

// checkDataDir creates dir when missing and proves it writable, so that a
// file in its place or a read-only directory fails up front, named.
func checkDataDir(dir string) error {
	if dir == "" {
		return errors.New("broker: data dir: required")
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("data dir %s: not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	probe := filepath.Join(dir, ".sluice-write-probe")
	f, err := os.Create(probe)
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	_ = f.Close()
	return os.Remove(probe)
}

// groupHandler serves the group APIs: a group.Coordinator, or a cluster
// member's clusterGroups.
type groupHandler interface {
	Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// coordinatorProxy lets the server hold the coordinator before it exists.
type coordinatorProxy struct {
	mu sync.RWMutex
	c  groupHandler
}

func (p *coordinatorProxy) set(c groupHandler) {
	p.mu.Lock()
	p.c = c
	p.mu.Unlock()
}

func (p *coordinatorProxy) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	p.mu.RLock()
	c := p.c
	p.mu.RUnlock()
	if c == nil {
		return nil, errors.New("broker: group coordinator not ready")
	}
	return c.Handle(ctx, req)
}

// clusterVoters checks the cluster flags: both given, the quorum parses and
// names this node.
func clusterVoters(cfg Config) ([]cluster.Voter, error) {
	if cfg.ControllerListen == "" || cfg.ControllerQuorum == "" {
		return nil, errors.New("broker: --controller-listen and --controller-quorum go together")
	}
	voters, err := cluster.ParseQuorum(cfg.ControllerQuorum)
	if err != nil {
		return nil, err
	}
	for _, v := range voters {
		if v.ID == cfg.NodeID {
			return voters, nil
		}
	}
	return nil, fmt.Errorf("broker: --node-id %d is not a voter of --controller-quorum %s", cfg.NodeID, cfg.ControllerQuorum)
}
