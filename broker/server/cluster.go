package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/cluster"
)

// Cluster is the metadata quorum as the server uses it; *cluster.Node
// implements it. With one (WithCluster) the server is a cluster member:
// the topic table follows the quorum's images, topic changes go to the
// controller, and partitions are replicated (replica.go, follower.go).
type Cluster interface {
	// Image returns the current metadata and a channel closed when a newer
	// image exists.
	Image() (*cluster.Image, <-chan struct{})
	// WaitFor blocks until the local image's version is at least v.
	WaitFor(ctx context.Context, v uint64) error
	CreateTopic(ctx context.Context, spec cluster.TopicSpec, validateOnly bool) (uint64, error)
	DeleteTopic(ctx context.Context, name string) (uint64, error)
	CreatePartitions(ctx context.Context, name string, total int32, validateOnly bool) (uint64, error)
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) (uint64, error)
	AlterPartition(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (cluster.Partition, error)
	AllocateProducerIDs(ctx context.Context, count int64) (int64, error)
}

// WithCluster makes the server a member of the cluster c describes.
func WithCluster(c Cluster) Option { return func(s *Server) { s.cl = c } }

// controllerTimeout bounds one topic change through the controller.
const controllerTimeout = 30 * time.Second

// topicIDFile names the file in a partition directory that records the
// topic id the data belongs to, so a topic deleted and re-created while a
// broker was down never serves the old data.
const topicIDFile = "topic.id"

// clusterMetadataDir is the quorum's directory in the data dir (owned by
// broker/cluster), never a partition.
const clusterMetadataDir = "__cluster_metadata"

// clusterState is the server's cluster-mode state.
type clusterState struct {
	syncMu  sync.Mutex // serializes applyImage
	applied uint64     // version of the last applied image (syncMu)
	// im is the last applied image: readers never wait for an apply.
	im atomic.Pointer[cluster.Image]
	// serving: the last image shows this broker registered by this
	// process and unfenced. Until then it leads nothing (an image replayed
	// after a restart may still name it leader at an old epoch).
	serving atomic.Bool

	// changed is signalled (buffer 1) when the followed partitions or
	// their leaders may have changed: the fetcher manager re-plans.
	changed chan struct{}
	// isrCheck is signalled when a follower may have caught up.
	isrCheck chan struct{}
	// pidMu guards Server.producers in cluster mode (not Server.mu: a
	// block comes from the controller, over the network).
	pidMu sync.Mutex

	// High watermark checkpoint (hwcheckpoint.go): hwLoaded is read-only
	// after New; hwMu guards hwWritten.
	hwLoaded  map[string]int64
	hwMu      sync.Mutex
	hwWritten map[string]int64
}

func (s *Server) clustered() bool { return s.cl != nil }

// image returns the last image applied to the topic table.
func (s *Server) image() *cluster.Image { return s.cs.im.Load() }

// syncImage applies the quorum's current image to the topic table unless
// it already was.
func (s *Server) syncImage() {
	im, _ := s.cl.Image()
	s.cs.syncMu.Lock()
	defer s.cs.syncMu.Unlock()
	if s.cs.im.Load() != nil && im.Version <= s.cs.applied {
		return
	}
	// Published first: a topic in the table always has its image entry.
	s.cs.im.Store(im)
	s.cs.serving.Store(s.servingIn(im))
	s.applyImageLocked(im)
	s.cs.applied = im.Version
}

// servingChecker is implemented by *cluster.Node (Serving); a Cluster
// without it is trusted when the image shows this broker unfenced.
type servingChecker interface {
	Serving(im *cluster.Image) bool
}

func (s *Server) servingIn(im *cluster.Image) bool {
	if sc, ok := s.cl.(servingChecker); ok {
		return sc.Serving(im)
	}
	return im.Alive(s.cfg.NodeID)
}

// followImages applies every new image until ctx is done (owned by Run).
func (s *Server) followImages(ctx context.Context) {
	for {
		_, changed := s.cl.Image()
		s.syncImage()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// applyImageLocked makes the topic table and the local partitions match
// im: topics appear and disappear, this node opens the partitions it is a
// replica of, closes and deletes those it no longer is, and every local
// partition takes its role. Requires cs.syncMu.
func (s *Server) applyImageLocked(im *cluster.Image) {
	self := s.cfg.NodeID
	var drop []*partition
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for name, t := range s.topics {
		if ct := im.Topics[name]; ct == nil || ct.ID != t.id {
			delete(s.topics, name)
			delete(s.topicIDs, t.id)
			drop = append(drop, t.partitions...)
			s.log.Info("topic deleted", "topic", name)
		}
	}
	for _, name := range im.SortedTopicNames() {
		ct := im.Topics[name]
		cfg, err := s.resolveTopicConfig(ct.Configs)
		if err != nil {
			s.log.Error("topic configs from the controller do not resolve; using the broker defaults", "topic", name, "err", err)
			cfg, _ = s.resolveTopicConfig(nil)
		}
		t := s.topics[name]
		if t == nil {
			t = &topic{name: name, id: ct.ID, configs: maps.Clone(ct.Configs), cfg: cfg}
			s.topics[name], s.topicIDs[ct.ID] = t, t
			s.log.Info("topic created", "topic", name, "partitions", len(ct.Partitions))
		} else if !maps.Equal(t.configs, ct.Configs) {
			for _, p := range t.partitions {
				if p != nil {
					if err := p.log.SetConfig(cfg); err != nil {
						s.log.Error("applying topic configs", "topic", name, "partition", p.index, "err", err)
					}
				}
			}
			t.cfg, t.configs = cfg, maps.Clone(ct.Configs)
		}
		parts := make([]*partition, len(ct.Partitions))
		copy(parts, t.partitions)
		for i := len(ct.Partitions); i < len(t.partitions); i++ {
			drop = append(drop, t.partitions[i])
		}
		for i, cp := range ct.Partitions {
			mine := slices.Contains(cp.Replicas, self)
			switch p := parts[i]; {
			case mine && p == nil:
				np, err := s.openReplica(t, int32(i))
				if err != nil {
					s.log.Error("opening a replica", "topic", name, "partition", i, "err", err)
					continue
				}
				parts[i] = np
			case !mine && p != nil:
				drop = append(drop, p)
				parts[i] = nil
			}
			if p := parts[i]; p != nil {
				s.setRole(p, cp)
			}
		}
		t.partitions = parts
	}
	s.mu.Unlock()
	if err := closePartitions(drop, true); err != nil {
		s.log.Error("deleting replicas no longer assigned here", "err", err)
	}
	s.signal(s.cs.changed)
}

func (s *Server) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// openReplica opens (or creates) this node's replica of a partition. A
// directory holding another incarnation of the topic is removed first.
// Requires s.mu.
func (s *Server) openReplica(t *topic, index int32) (*partition, error) {
	dir := partitionDir(s.cfg.DataDir, t.name, index)
	want := hex.EncodeToString(t.id[:])
	fresh := true
	if b, err := os.ReadFile(filepath.Join(dir, topicIDFile)); err == nil && strings.TrimSpace(string(b)) == want {
		fresh = false
	}
	p, err := s.openPartition(t, index, fresh)
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			_ = closePartitions([]*partition{p}, true)
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := writeFileSync(filepath.Join(dir, topicIDFile), []byte(want+"\n")); err != nil {
			_ = closePartitions([]*partition{p}, true)
			return nil, fmt.Errorf("recording the topic id of %s-%d: %w", t.name, index, err)
		}
	}
	// A replica serves nothing until its role says so: the high watermark
	// is learned from the leader (or computed as leader) again.
	p.leo.Store(p.log.EndOffset())
	p.hw.Store(p.log.StartOffset())
	if cp := s.checkpointedHW(t.name, index); !fresh && cp > p.log.StartOffset() {
		p.hw.Store(min(cp, p.log.EndOffset()))
	}
	p.repl.followers = map[int32]*followerState{}
	return p, nil
}

// writeFileSync writes a small file and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// viaController runs one topic change through the controller and waits
// until this node's topic table has it.
func (s *Server) viaController(what string, fn func(ctx context.Context) (uint64, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), controllerTimeout)
	defer cancel()
	v, err := fn(ctx)
	if err != nil {
		var re *cluster.RequestError
		if errors.As(err, &re) || errors.As(err, new(*kerr.Error)) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", kerr.RequestTimedOut, what, err)
	}
	if err := s.cl.WaitFor(ctx, v); err != nil {
		return fmt.Errorf("%w: %s: waiting for the metadata: %w", kerr.RequestTimedOut, what, err)
	}
	s.syncImage()
	return nil
}

// createTopicCluster creates a topic through the controller.
func (s *Server) createTopicCluster(spec cluster.TopicSpec, validateOnly bool) (*topic, error) {
	if err := validateTopicConfigs(spec.Configs); err != nil {
		return nil, err
	}
	cfg, err := s.resolveTopicConfig(spec.Configs)
	if err != nil {
		return nil, err
	}
	if validateOnly {
		ctx, cancel := context.WithTimeout(context.Background(), controllerTimeout)
		defer cancel()
		if _, err := s.cl.CreateTopic(ctx, spec, true); err != nil {
			return nil, err
		}
		n := spec.Partitions
		if len(spec.Assignment) > 0 {
			n = int32(len(spec.Assignment))
		}
		if n < 0 {
			n = int32(s.cfg.brokerInt("num.partitions"))
		}
		return &topic{name: spec.Name, configs: maps.Clone(spec.Configs), cfg: cfg, partitions: make([]*partition, n)}, nil
	}
	if err := s.viaController("creating topic "+spec.Name, func(ctx context.Context) (uint64, error) {
		return s.cl.CreateTopic(ctx, spec, false)
	}); err != nil {
		if errors.Is(err, kerr.TopicAlreadyExists) {
			s.awaitTopic(spec.Name) // auto-create raced another broker's: let the caller see it
		}
		return nil, err
	}
	t := s.lookup(spec.Name)
	if t == nil {
		return nil, fmt.Errorf("%w: topic %s was deleted right after it was created", kerr.UnknownTopicOrPartition, spec.Name)
	}
	return t, nil
}

// replicationFactor is the replica count of a topic's first partition in
// the applied image (1 on a single node).
func (s *Server) replicationFactor(t *topic) int16 {
	if !s.clustered() {
		return 1
	}
	if ct := s.image().Topics[t.name]; ct != nil && len(ct.Partitions) > 0 {
		return int16(len(ct.Partitions[0].Replicas))
	}
	return -1
}

// clusterBrokers fills Metadata's brokers (the unfenced ones), controller
// and cluster id from the applied image.
func (s *Server) clusterBrokers(resp *kmsg.MetadataResponse) {
	im := s.image()
	for _, id := range im.SortedBrokerIDs(true) {
		ib := im.Brokers[id]
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = id, ib.Host, ib.Port
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterID = kmsg.StringPtr(s.ClusterID())
	resp.ControllerID = im.Controller
}

// clusterPartitions fills a Metadata topic's partitions from the image:
// leader (LEADER_NOT_AVAILABLE when none), leader epoch, replicas, ISR and
// the replicas on fenced brokers.
func (s *Server) clusterPartitions(t *topic, mt *kmsg.MetadataResponseTopic) {
	im := s.image()
	ct := im.Topics[t.name]
	if ct == nil {
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	for i, cp := range ct.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader, mp.LeaderEpoch = cp.Leader, cp.LeaderEpoch
		mp.Replicas, mp.ISR = slices.Clone(cp.Replicas), slices.Clone(cp.ISR)
		for _, id := range cp.Replicas {
			if !im.Alive(id) {
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		if cp.Leader < 0 || !im.Alive(cp.Leader) {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
}

// servedPartition resolves a partition a client asks this broker to serve
// (ListOffsets, DeleteRecords, OffsetForLeaderEpoch): on a single node any
// local partition at epoch 0; in a cluster only one this node leads, at
// the request's current leader epoch (-1: not checked).
func (s *Server) servedPartition(t *topic, index, currentEpoch int32) (*partition, error) {
	var p *partition
	if t != nil {
		p = s.partitionOf(t, index)
	}
	if !s.clustered() {
		switch {
		case p == nil:
			return nil, kerr.UnknownTopicOrPartition
		case currentEpoch > 0:
			return nil, fmt.Errorf("%w: epoch %d", kerr.UnknownLeaderEpoch, currentEpoch)
		}
		return p, nil
	}
	if p == nil {
		if t != nil && index >= 0 && int(index) < len(s.partitionsOf(t)) {
			return nil, kerr.NotLeaderForPartition
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	r, err := s.leaderRole(p)
	if err != nil {
		return nil, err
	}
	if err := checkLeaderEpoch(r, currentEpoch); err != nil {
		return nil, err
	}
	return p, nil
}

// createFromRequestCluster creates a CreateTopics topic through the
// controller, which places the replicas (or checks the given assignment).
func (s *Server) createFromRequestCluster(rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (*topic, error) {
	if err := validateTopicName(rt.Topic); err != nil {
		return nil, err
	}
	spec := cluster.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both a replica assignment and partitions or replication factor", kerr.InvalidRequest)
		}
		spec.Assignment = make([][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(spec.Assignment) || spec.Assignment[a.Partition] != nil {
				return nil, fmt.Errorf("%w: partitions must be 0..%d, each once", kerr.InvalidReplicaAssignment, len(spec.Assignment)-1)
			}
			spec.Assignment[a.Partition] = slices.Clone(a.Replicas)
		}
	} else {
		if spec.Partitions == -1 {
			spec.Partitions = int32(s.cfg.brokerInt("num.partitions"))
		}
		if spec.Partitions <= 0 || spec.Partitions > maxPartitionsPerTopic {
			return nil, fmt.Errorf("%w: %d partitions, must be 1..%d", kerr.InvalidPartitions, spec.Partitions, maxPartitionsPerTopic)
		}
		if spec.ReplicationFactor == 0 || spec.ReplicationFactor < -1 {
			return nil, fmt.Errorf("%w: replication factor %d", kerr.InvalidReplicationFactor, spec.ReplicationFactor)
		}
		if spec.ReplicationFactor == -1 {
			if v, ok := s.cfg.Configs["default.replication.factor"]; ok {
				n, _ := strconv.Atoi(v)
				spec.ReplicationFactor = int16(n)
			}
		}
	}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return nil, invalidConfig(c.Name, fmt.Errorf("null value"))
		}
		spec.Configs[c.Name] = *c.Value
	}
	return s.createTopicCluster(spec, validateOnly)
}

// allocateProducerIDCluster hands out producer ids from blocks the
// controller reserved for this broker, unique in the cluster.
func (s *Server) allocateProducerIDCluster() (int64, error) {
	s.cs.pidMu.Lock()
	defer s.cs.pidMu.Unlock()
	if s.producers.next >= s.producers.end {
		ctx, cancel := context.WithTimeout(context.Background(), controllerTimeout)
		defer cancel()
		first, err := s.cl.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return 0, fmt.Errorf("%w: allocating producer ids: %w", kerr.CoordinatorNotAvailable, err)
		}
		s.producers.next, s.producers.end = first, first+producerIDBlock
	}
	id := s.producers.next
	s.producers.next++
	return id, nil
}

// awaitTopic waits (briefly) until the applied image has a topic the
// controller already committed, so a caller that lost a creation race
// finds it locally.
func (s *Server) awaitTopic(name string) {
	deadline := time.Now().Add(5 * time.Second)
	for s.lookup(name) == nil && time.Now().Before(deadline) {
		s.syncImage()
		if s.lookup(name) == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}
