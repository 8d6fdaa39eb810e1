package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Internal topics are written by broker components (the group
// coordinator's __consumer_offsets), never by clients: a client Produce to
// one is INVALID_TOPIC_EXCEPTION, as in Kafka. Clients may read them.

// EnsureInternalTopic creates the topic if missing (with the given
// partitions and config overrides) and marks it internal. An existing
// topic keeps its partitions and configs.
func (s *Server) EnsureInternalTopic(name string, partitions int32, configs map[string]string) error {
	if t := s.lookup(name); t == nil {
		if _, err := s.createTopic(name, partitions, configs, false); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating internal topic %s: %w", name, err)
		}
	} else if _, overrides := s.configOf(t); !containsAll(overrides, configs) {
		// Created some other way (a client, an older version): the
		// component's configs (e.g. cleanup.policy=compact) must hold.
		merged := maps.Clone(overrides)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, configs)
		if err := s.setTopicConfigs(t, merged, false); err != nil {
			return fmt.Errorf("configuring internal topic %s: %w", name, err)
		}
	}
	s.mu.Lock()
	s.internal[name] = true
	s.mu.Unlock()
	return nil
}

func (s *Server) isInternal(name string) bool {
	if reservedInternal[name] {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.internal[name]
}

// AppendRecords writes recs to one partition as a single uncompressed
// batch and returns once it is durable. It is how broker components write
// internal topics; it bypasses the Produce checks that concern clients
// but honours the topic's (keyless-on-compacted) log checks.
func (s *Server) AppendRecords(ctx context.Context, topicName string, partition int32, recs []kafkaproto.Record) error {
	if len(recs) == 0 {
		return nil
	}
	t := s.lookup(topicName)
	if t == nil {
		return fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, topicName)
	}
	p := s.partitionOf(t, partition)
	if p == nil {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topicName, partition)
	}
	batch := kafkaproto.AppendBatch(nil, time.Now().UnixMilli(), recs)
	cfg, _ := s.configOf(t)
	cfg.MinInsyncReplicas = 1
	_, err := s.produceTo(ctx, p, cfg, -1, batch, false)
	return err
}

// ScanRecords calls fn for every record of a partition from its log start
// to its high watermark, in offset order, decompressing batches as needed.
// It stops at fn's first error and returns it. ctx is checked between reads.
func (s *Server) ScanRecords(ctx context.Context, topicName string, partition int32, fn func(offset int64, r kafkaproto.Record) error) error {
	t := s.lookup(topicName)
	if t == nil {
		return fmt.Errorf("%w: topic %s", kerr.UnknownTopicOrPartition, topicName)
	}
	p := s.partitionOf(t, partition)
	if p == nil {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topicName, partition)
	}
	dec := kgo.DefaultDecompressor()
	off, hw := p.log.StartOffset(), p.hw.Load()
	if r := p.role.Load(); r != nil && r.leader == s.cfg.NodeID {
		// A new leader's log is the partition's truth: what its followers
		// acknowledged under the previous leader may lie above the high
		// watermark it has learned so far (the group coordinator loads it).
		hw = p.leo.Load()
	}
	readBytes := rebuildReadBytes
	for off < hw {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := p.log.Read(off, readBytes)
		if err != nil {
			return fmt.Errorf("reading %s-%d at %d: %w", topicName, partition, off, err)
		}
		b = trimToHW(b, hw)
		next := off
		var walkErr error
		err = kafkaproto.SplitBatches(b, func(h kafkaproto.BatchHeader, batch []byte) bool {
			last := h.BaseOffset + int64(h.LastOffsetDelta)
			if last < off || h.Attributes&kafkaproto.AttrControl != 0 {
				next = max(next, last+1)
				return true
			}
			recs, err := dec.Decompress(batch[kafkaproto.BatchHeaderSize:], kgo.CompressionCodecType(h.Attributes&kafkaproto.AttrCompressionMask))
			if err != nil {
				walkErr = fmt.Errorf("%w: decompressing batch at %d: %w", kafkaproto.ErrCorruptBatch, h.BaseOffset, err)
				return false
			}
			walkErr = kafkaproto.ForEachRecord(h, recs, func(delta int32, r kafkaproto.Record) error {
				if o := h.BaseOffset + int64(delta); o >= off {
					return fn(o, r)
				}
				return nil
			})
			next = last + 1
			return walkErr == nil
		})
		if walkErr != nil {
			return walkErr
		}
		if err != nil {
			return fmt.Errorf("scanning %s-%d at %d: %w", topicName, partition, off, err)
		}
		if next == off {
			if len(b) == 0 || readBytes >= 1<<30 {
				return nil
			}
			readBytes *= 4
			continue
		}
		off = next
	}
	return nil
}

// PartitionExists reports whether the topic has the partition (for the
// group coordinator's commit validation), wherever its replicas are.
func (s *Server) PartitionExists(topicName string, partition int32) bool {
	t := s.lookup(topicName)
	return t != nil && s.hasPartition(t, partition)
}

// TopicName resolves a topic id.
func (s *Server) TopicName(id [16]byte) (string, bool) {
	if t := s.lookupID(id); t != nil {
		return t.name, true
	}
	return "", false
}

// TopicID resolves a topic name.
func (s *Server) TopicID(name string) ([16]byte, bool) {
	if t := s.lookup(name); t != nil {
		return t.id, true
	}
	return [16]byte{}, false
}

// Node returns this broker's id and advertised address. The address is
// known once Run started (or from Config.AdvertisedAddr).
func (s *Server) Node() (id int32, host string, port int32) {
	host, port = s.advertised()
	return s.cfg.NodeID, host, port
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// reservedInternal are topics only their broker component may create:
// Metadata never auto-creates them.
var reservedInternal = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}
