package server

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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shutdownWriteTimeout bounds how long shutdown waits for a peer to take
// the last responses; a peer that stops reading must not hold shutdown.
const shutdownWriteTimeout = 10 * time.Second

// Server is a single-node Kafka-protocol broker front end. Build it with
// New, serve with Run. Safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	openLog logOpener
	// background runs beside the connections for Run's lifetime (the disk
	// log cleaner); nil with a test log store.
	background func(context.Context) error
	groups     GroupCoordinator
	groupCtx   func(ctx context.Context, clientID, host string) context.Context
	reg        prometheus.Registerer
	metrics    *metrics
	maxFrame   int32
	creds      *credStore  // SCRAM credentials (auth_store.go)
	authz      *authorizer // ACLs (authz.go)
	cl         Cluster     // nil: a single node (cluster.go)
	cs         clusterState

	// stopping is closed when Run begins shutdown; long polls end early.
	stopping chan struct{}
	stopOnce sync.Once

	mu        sync.RWMutex // guards the fields below; lock order: mu -> partition.life -> producer lock -> partition.appendMu -> partition.mu
	topics    map[string]*topic
	topicIDs  map[[16]byte]*topic
	meta      metaFile
	advHost   string
	advPort   int32
	closed    bool
	internal  map[string]bool // topics only broker components write
	conns     map[*conn]struct{}
	producers producerIDs
}

// GroupCoordinator serves the consumer group APIs (FindCoordinator is
// answered by the server: this node). Handle gets a decoded request whose
// version is set and returns its response at the same version; an error
// closes the client's connection, so errors a client should see belong in
// the response's error codes. Handle may block (JoinGroup waits for the
// rebalance); ctx is cancelled when the server hard-stops.
// Keys delegated: OffsetCommit, OffsetFetch, JoinGroup, Heartbeat,
// LeaveGroup, SyncGroup, DescribeGroups, ListGroups, DeleteGroups,
// OffsetDelete.
type GroupCoordinator interface {
	Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// WithGroupCoordinator delegates the group APIs to gc. Without one, the group
// APIs answer COORDINATOR_NOT_AVAILABLE.
func WithGroupCoordinator(gc GroupCoordinator) Option { return func(s *Server) { s.groups = gc } }

// New validates cfg, creates the data dir if missing, loads the topic table
// and opens every partition log. The caller must call Run (which closes
// everything when it returns) or Close.
func New(cfg Config, opts ...Option) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		stopping: make(chan struct{}),
		topics:   map[string]*topic{},
		topicIDs: map[[16]byte]*topic{},
		conns:    map[*conn]struct{}{},
		internal: map[string]bool{},
		maxFrame: int32(cfg.brokerInt("socket.request.max.bytes")),
		creds:    newCredStore(cfg.DataDir),
	}
	disk := newDiskStore(cfg)
	s.openLog, s.background = disk.open, disk.run
	for _, o := range opts {
		o(s)
	}
	if s.openLog == nil {
		return nil, ErrNoLogStore
	}
	s.metrics = newMetrics(s.reg)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data dir %s: %w", cfg.DataDir, err)
	}
	if err := s.loadMeta(); err != nil {
		return nil, err
	}
	authz, err := newAuthorizer(&s.cfg)
	if err != nil {
		return nil, err
	}
	s.authz = authz
	if cfg.AdvertisedAddr != "" {
		host, port, _ := net.SplitHostPort(cfg.AdvertisedAddr)
		p, _ := strconv.Atoi(port)
		s.advHost, s.advPort = host, int32(p)
	}
	if s.clustered() {
		// The topic table follows the quorum's images (cluster.go).
		s.cs.changed = make(chan struct{}, 1)
		s.cs.isrCheck = make(chan struct{}, 1)
		if err := s.loadHWCheckpoint(); err != nil {
			return nil, err
		}
		s.syncImage()
		s.mu.Lock()
		s.warnOrphansLocked()
		s.mu.Unlock()
		s.registerClusterMetrics()
		return s, nil
	}
	s.mu.Lock()
	err = s.loadTopicsLocked()
	s.mu.Unlock()
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) loadMeta() error {
	path := filepath.Join(s.cfg.DataDir, metaFileName)
	ok, err := readJSON(path, &s.meta)
	if err != nil {
		return err
	}
	if ok && s.meta.Version != stateVersion {
		return fmt.Errorf("%w: %s version %d", ErrStateFile, metaFileName, s.meta.Version)
	}
	if ok && s.meta.ClusterID != "" {
		s.producers.next = s.meta.ProducerIDBlockEnd
		s.producers.end = s.meta.ProducerIDBlockEnd
		return nil
	}
	s.meta = metaFile{Version: stateVersion, ClusterID: newClusterID()}
	return writeJSON(path, s.meta)
}

// ClusterID returns the cluster id: stable for the data dir, or in a
// cluster the one the quorum chose.
func (s *Server) ClusterID() string {
	if s.clustered() {
		if im := s.image(); im != nil && im.ClusterID != "" {
			return im.ClusterID
		}
	}
	return s.meta.ClusterID
}

// Run serves connections accepted from ln until ctx is done, then shuts
// down gracefully: it stops accepting, stops reading new requests, answers
// the requests already read (long-polling fetches return early), closes
// every connection and closes the partition logs. ctx bounds the serving
// lifetime only; in-flight appends complete even after it is done. Run
// returns nil after a requested shutdown, or the accept error that ended it.
// Run may be called once.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.advHost == "" {
		if host, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
			p, _ := strconv.Atoi(port)
			s.advHost, s.advPort = advertisableHost(host), int32(p)
		}
	}
	s.mu.Unlock()
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.log.Info("broker serving", "addr", ln.Addr().String(), "node_id", s.cfg.NodeID, "cluster_id", s.ClusterID(), "clustered", s.clustered())

	var wg sync.WaitGroup // owns every connection goroutine
	// Handlers run on a context that outlives the soft stop: an append that
	// started must finish and be answered.
	handlerCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()

	acceptErr := make(chan error, 1)
	wg.Go(func() { acceptErr <- s.acceptLoop(handlerCtx, ln, &wg) })
	if s.background != nil {
		wg.Go(func() {
			if err := s.background(ctx); err != nil {
				s.log.Error("background maintenance stopped", "err", err)
			}
		})
	}
	if s.clustered() {
		// Replication stops with the serving ctx: a stopping broker no
		// longer follows (its leaderships move with controlled shutdown).
		wg.Go(func() { s.followImages(ctx) })
		wg.Go(func() { s.replicate(ctx) })
		wg.Go(func() { s.manageISR(ctx) })
		wg.Go(func() { s.checkpointHWs(ctx) })
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-acceptErr:
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	_ = ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	// Hard stop: handlers still running after the grace period (a JoinGroup
	// waiting for a rebalance, a peer not reading its responses) are cancelled.
	hard := time.AfterFunc(shutdownWriteTimeout, hardStop)
	defer hard.Stop()
	wg.Wait()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	s.log.Info("broker stopped")
	return err
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stopping:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
					continue
				case <-s.stopping:
					return nil
				}
			}
			return fmt.Errorf("accepting connections: %w", err)
		}
		delay = 0
		c := newConn(s, nc)
		s.mu.Lock()
		stopping := s.closed
		select {
		case <-s.stopping:
			stopping = true
		default:
		}
		if !stopping {
			s.conns[c] = struct{}{}
		}
		s.mu.Unlock()
		if stopping {
			_ = nc.Close()
			return nil
		}
		wg.Go(func() {
			c.serve(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		})
	}
}

// Close closes every partition log. Run calls it on return; call it only
// when Run was never called. Idempotent.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var parts []*partition
	for _, t := range s.topics {
		parts = append(parts, t.partitions...)
	}
	s.mu.Unlock()
	if s.clustered() {
		if err := s.writeHWCheckpoint(parts); err != nil {
			s.log.Warn("writing the high watermark checkpoint", "err", err)
		}
	}
	return closePartitions(parts, false)
}

// AdvertisableHost is the host clients can be told for a listen host: a
// wildcard (0.0.0.0, ::) becomes this machine's host name, as in Kafka.
func AdvertisableHost(host string) string { return advertisableHost(host) }

// advertisableHost replaces a wildcard listen address (0.0.0.0, ::), which
// no client can connect to, with this machine's host name, as Kafka does.
func advertisableHost(host string) string {
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return host
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		return name
	}
	return "localhost"
}

// advertised returns the host and port clients should connect to.
func (s *Server) advertised() (string, int32) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.advHost, s.advPort
}

// maxRequestBytes is socket.request.max.bytes.
func (s *Server) maxRequestBytes() int32 {
	if s.maxFrame <= 0 {
		return kafkaproto.DefaultMaxRequestBytes
	}
	return s.maxFrame
}
