package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/cluster"
)

// maxPartitionsPerTopic bounds one topic, so a single request cannot make
// the broker open billions of logs.
const maxPartitionsPerTopic = 10_000

// topic is one entry of the topic table. name and id never change; the
// partitions slice and the configs are replaced (never mutated in place)
// under Server.mu, so a reader that loaded them may keep using them.
type topic struct {
	name       string
	id         [16]byte
	configs    map[string]string // overrides only
	cfg        TopicConfig       // effective
	partitions []*partition
}

// partition is one open partition log plus its append-path state.
type partition struct {
	topic    string
	topicID  [16]byte
	index    int32
	dir      string
	snapshot string // producer state snapshot file (producers.go)
	log      partitionLog

	// hw is the high watermark: every offset below it is durable and
	// visible. Appends advance it after Append returns; reads never serve
	// beyond it.
	hw atomic.Int64

	// life is held shared by every append and DeleteRecords, and
	// exclusively to close or delete the log; it guards deleted.
	life    sync.RWMutex
	deleted bool

	// appendMu guards the producer state and the producer lock table
	// (held briefly, never across an Append); a producer's lock
	// (lockProducer) orders its batches' check, Append and record.
	appendMu      sync.Mutex
	producers     map[int64]*producerState
	producerLocks map[int64]*producerLock
	expireMS      int64 // producer.id.expiration.ms
	sinceSweep    int   // idempotent appends since the last expiry sweep

	mu      sync.Mutex             // guards waiters
	waiters map[chan struct{}]bool // long-polling fetches to wake at the next append

	// Cluster mode only (replica.go): the replica's role, its durable log
	// end (hw then lags it until the in-sync replicas have the data), and
	// the replication bookkeeping.
	role atomic.Pointer[role]
	leo  atomic.Int64
	repl replicaState
}

func newPartition(topicName string, index int32, dir string, l partitionLog) *partition {
	p := &partition{topic: topicName, index: index, dir: dir, log: l, waiters: map[chan struct{}]bool{}, producers: map[int64]*producerState{}, producerLocks: map[int64]*producerLock{}}
	p.hw.Store(l.EndOffset())
	p.repl.truncatedFor = -1
	return p
}

// advanceHW raises the high watermark to hw if it is higher. Concurrent
// appends may finish in any order; raising to the largest end is safe
// because the log's durability is prefix-closed (an fsync covering a
// write covers every earlier write of the log).
func (p *partition) advanceHW(hw int64) {
	for {
		cur := p.hw.Load()
		if hw <= cur || p.hw.CompareAndSwap(cur, hw) {
			return
		}
	}
}

// watch registers w (a channel with a buffer of one) to be signalled at
// the next append. Register before reading, so an append between the read
// and the wait is not missed; unwatch when done waiting.
func (p *partition) watch(w chan struct{}) {
	p.mu.Lock()
	p.waiters[w] = true
	p.mu.Unlock()
}

func (p *partition) unwatch(w chan struct{}) {
	p.mu.Lock()
	delete(p.waiters, w)
	p.mu.Unlock()
}

// wake signals every registered waiter (without blocking).
func (p *partition) wake() {
	p.mu.Lock()
	for w := range p.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

func partitionDir(dataDir, topicName string, index int32) string {
	return filepath.Join(dataDir, fmt.Sprintf("%s-%d", topicName, index))
}

// loadTopics opens every partition listed in topics.json.
func (s *Server) loadTopicsLocked() error {
	var f topicsFile
	ok, err := readJSON(filepath.Join(s.cfg.DataDir, topicsFileName), &f)
	if err != nil {
		return err
	}
	if ok && f.Version != stateVersion {
		return fmt.Errorf("%w: %s version %d", ErrStateFile, topicsFileName, f.Version)
	}
	for _, r := range f.Topics {
		id, err := parseTopicID(r.ID)
		if err != nil {
			return err
		}
		cfg, err := s.resolveTopicConfig(r.Configs)
		if err != nil {
			return fmt.Errorf("topic %s: %w", r.Name, err)
		}
		t := &topic{name: r.Name, id: id, configs: r.Configs, cfg: cfg}
		for i := range r.Partitions {
			p, err := s.openPartition(t, i, false)
			if err != nil {
				return err
			}
			t.partitions = append(t.partitions, p)
		}
		s.topics[t.name] = t
		s.topicIDs[t.id] = t
	}
	s.warnOrphansLocked()
	return nil
}

// warnOrphansLocked names partition directories that belong to no topic:
// left by a create or delete interrupted by a crash. They are not removed
// here (the data dir may one day hold other components' directories); a
// re-created topic of that name removes its stale directories.
func (s *Server) warnOrphansLocked() {
	entries, err := os.ReadDir(s.cfg.DataDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		i := strings.LastIndexByte(name, '-')
		if !e.IsDir() || i <= 0 || name == clusterMetadataDir {
			continue
		}
		n, err := strconv.Atoi(name[i+1:])
		if err != nil || n < 0 {
			continue
		}
		// In a cluster a directory is an orphan too when the image puts
		// no replica of that partition on this node.
		if t := s.topics[name[:i]]; t == nil || n >= len(t.partitions) || (s.clustered() && t.partitions[n] == nil) {
			s.log.Warn("partition directory belongs to no topic; left by an interrupted create or delete", "path", filepath.Join(s.cfg.DataDir, name))
		}
	}
}

// openPartition opens a partition's log and rebuilds its producer state.
// fresh means the partition is being created: a directory left over from a
// topic deleted before a crash is removed first, so old data never
// resurfaces under a new topic.
func (s *Server) openPartition(t *topic, index int32, fresh bool) (*partition, error) {
	dir := partitionDir(s.cfg.DataDir, t.name, index)
	if fresh {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("removing stale %s: %w", dir, err)
		}
	}
	l, err := s.openLog(dir, t.cfg)
	if err != nil {
		return nil, fmt.Errorf("opening partition %s-%d: %w", t.name, index, err)
	}
	p := newPartition(t.name, index, dir, l)
	p.topicID = t.id
	p.snapshot = snapshotPath(s.cfg.DataDir, t.name, index)
	p.expireMS = s.cfg.brokerInt("producer.id.expiration.ms")
	if fresh {
		_ = os.Remove(p.snapshot) // a stale one of a deleted topic
	}
	if err := p.rebuildProducers(s.log); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("rebuilding producer state of %s-%d: %w", t.name, index, err)
	}
	return p, nil
}

// persistTopicsLocked writes the topic table. Requires s.mu held.
func (s *Server) persistTopicsLocked() error {
	f := topicsFile{Version: stateVersion}
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := s.topics[n]
		f.Topics = append(f.Topics, topicRecord{
			Name: t.name, ID: hex.EncodeToString(t.id[:]), Partitions: int32(len(t.partitions)), Configs: t.configs,
		})
	}
	return writeJSON(filepath.Join(s.cfg.DataDir, topicsFileName), f)
}

// lookup returns the topic by name.
func (s *Server) lookup(name string) *topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.topics[name]
}

// lookupID returns the topic by id.
func (s *Server) lookupID(id [16]byte) *topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.topicIDs[id]
}

// partitionsOf returns a topic's current partitions.
func (s *Server) partitionsOf(t *topic) []*partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.partitions
}

// configOf returns a topic's effective config and overrides.
func (s *Server) configOf(t *topic) (TopicConfig, map[string]string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.cfg, t.configs
}

// hasPartition reports whether the topic has partition index, local or
// not (in a cluster a partition without a replica here is a nil entry).
func (s *Server) hasPartition(t *topic, index int32) bool {
	return index >= 0 && int(index) < len(s.partitionsOf(t))
}

// partitionOf returns the partition or nil.
func (s *Server) partitionOf(t *topic, index int32) *partition {
	ps := s.partitionsOf(t)
	if index < 0 || int(index) >= len(ps) {
		return nil
	}
	return ps[index]
}

// allTopics returns the topics sorted by name.
func (s *Server) allTopics() []*topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*topic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// createTopic validates and (unless validateOnly) creates a topic. The
// returned topic is the new one (a dry-run copy when validateOnly).
func (s *Server) createTopic(name string, partitions int32, configs map[string]string, validateOnly bool) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if partitions <= 0 || partitions > maxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: %d partitions, must be 1..%d", kerr.InvalidPartitions, partitions, maxPartitionsPerTopic)
	}
	if s.clustered() {
		return s.createTopicCluster(cluster.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: -1, Configs: configs}, validateOnly)
	}
	if err := validateTopicConfigs(configs); err != nil {
		return nil, err
	}
	cfg, err := s.resolveTopicConfig(configs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: broker shutting down", kerr.BrokerNotAvailable)
	}
	if _, ok := s.topics[name]; ok {
		return nil, fmt.Errorf("%w: topic %s", kerr.TopicAlreadyExists, name)
	}
	t := &topic{name: name, id: newTopicID(), configs: maps.Clone(configs), cfg: cfg}
	if validateOnly {
		t.partitions = make([]*partition, partitions)
		return t, nil
	}
	for i := range partitions {
		p, err := s.openPartition(t, i, true)
		if err != nil {
			_ = closePartitions(t.partitions, true)
			return nil, err
		}
		t.partitions = append(t.partitions, p)
	}
	s.topics[name] = t
	s.topicIDs[t.id] = t
	if err := s.persistTopicsLocked(); err != nil {
		delete(s.topics, name)
		delete(s.topicIDs, t.id)
		_ = closePartitions(t.partitions, true)
		return nil, err
	}
	s.log.Info("topic created", "topic", name, "partitions", partitions)
	return t, nil
}

// deleteTopic removes a topic and deletes its partition logs.
func (s *Server) deleteTopic(t *topic) error {
	if s.clustered() {
		return s.viaController("deleting topic "+t.name, func(ctx context.Context) (uint64, error) {
			return s.cl.DeleteTopic(ctx, t.name)
		})
	}
	s.mu.Lock()
	if s.topics[t.name] != t {
		s.mu.Unlock()
		return fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, t.name)
	}
	delete(s.topics, t.name)
	delete(s.topicIDs, t.id)
	if err := s.persistTopicsLocked(); err != nil {
		s.topics[t.name] = t
		s.topicIDs[t.id] = t
		s.mu.Unlock()
		return err
	}
	parts := t.partitions
	s.mu.Unlock()
	s.log.Info("topic deleted", "topic", t.name)
	return closePartitions(parts, true)
}

// closePartitions closes (and with remove, deletes) partition logs, waiting
// for in-flight appends and waking long-polling fetches.
func closePartitions(parts []*partition, remove bool) error {
	var errs []error
	for _, p := range parts {
		if p == nil {
			continue
		}
		p.life.Lock()
		if !p.deleted {
			p.deleted = true
			if remove {
				errs = append(errs, p.log.Delete(), removeSnapshot(p.snapshot))
			} else {
				p.appendMu.Lock()
				errs = append(errs, p.writeSnapshotLocked(), p.log.Close())
				p.appendMu.Unlock()
			}
		}
		p.life.Unlock()
		p.wake()
	}
	return errors.Join(errs...)
}

// addPartitions grows a topic to count partitions.
func (s *Server) addPartitions(t *topic, count int32, validateOnly bool) error {
	if s.clustered() {
		if validateOnly {
			ctx, cancel := context.WithTimeout(context.Background(), controllerTimeout)
			defer cancel()
			_, err := s.cl.CreatePartitions(ctx, t.name, count, true)
			return err
		}
		return s.viaController("adding partitions to "+t.name, func(ctx context.Context) (uint64, error) {
			return s.cl.CreatePartitions(ctx, t.name, count, false)
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics[t.name] != t {
		return fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, t.name)
	}
	have := int32(len(t.partitions))
	if count > maxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions, at most %d", kerr.InvalidPartitions, count, maxPartitionsPerTopic)
	}
	if count <= have {
		return fmt.Errorf("%w: topic %s has %d partitions, asked for %d", kerr.InvalidPartitions, t.name, have, count)
	}
	if validateOnly {
		return nil
	}
	parts := append([]*partition(nil), t.partitions...)
	for i := have; i < count; i++ {
		p, err := s.openPartition(t, i, true)
		if err != nil {
			_ = closePartitions(parts[have:], true)
			return err
		}
		parts = append(parts, p)
	}
	old := t.partitions
	t.partitions = parts
	if err := s.persistTopicsLocked(); err != nil {
		t.partitions = old
		_ = closePartitions(parts[have:], true)
		return err
	}
	s.log.Info("partitions added", "topic", t.name, "partitions", count)
	return nil
}

// setTopicConfigs replaces a topic's overrides and applies them to its logs.
func (s *Server) setTopicConfigs(t *topic, configs map[string]string, validateOnly bool) error {
	if err := validateTopicConfigs(configs); err != nil {
		return err
	}
	cfg, err := s.resolveTopicConfig(configs)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if s.clustered() {
		return s.viaController("configuring topic "+t.name, func(ctx context.Context) (uint64, error) {
			return s.cl.SetTopicConfigs(ctx, t.name, configs)
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics[t.name] != t {
		return fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, t.name)
	}
	// Apply to the logs first: a log may refuse what the table accepted,
	// and then nothing must change (the logs already set are reverted).
	oldCfg, oldConfigs := t.cfg, t.configs
	revert := func(applied []*partition) {
		for _, p := range applied {
			if err := p.log.SetConfig(oldCfg); err != nil {
				s.log.Error("reverting a partition's config", "topic", t.name, "partition", p.index, "err", err)
			}
		}
	}
	for i, p := range t.partitions {
		if err := p.log.SetConfig(cfg); err != nil {
			revert(t.partitions[:i])
			return fmt.Errorf("configuring %s-%d: %w", t.name, p.index, err)
		}
	}
	t.cfg, t.configs = cfg, maps.Clone(configs)
	if err := s.persistTopicsLocked(); err != nil {
		t.cfg, t.configs = oldCfg, oldConfigs
		revert(t.partitions)
		return err
	}
	return nil
}

// autoCreate creates a topic for Metadata if the broker allows it.
func (s *Server) autoCreate(name string) (*topic, error) {
	t, err := s.createTopic(name, int32(s.cfg.brokerInt("num.partitions")), nil, false)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		if t := s.lookup(name); t != nil {
			return t, nil
		}
	}
	return t, err
}

// validateTopicName applies Kafka's rules: 1-249 chars of [a-zA-Z0-9._-],
// not "." or "..".
func validateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: topic name %q", kerr.InvalidTopicException, name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: topic name %q has illegal character %q", kerr.InvalidTopicException, name, c)
		}
	}
	return nil
}
