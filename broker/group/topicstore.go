package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsTopic is the compacted internal topic the coordinator persists to.
const OffsetsTopic = "__consumer_offsets"

// TopicLog is the part of the broker a TopicStore writes through;
// broker/server's Server implements it.
type TopicLog interface {
	// EnsureInternalTopic creates the topic if missing and marks it internal.
	EnsureInternalTopic(name string, partitions int32, configs map[string]string) error
	// AppendRecords writes recs as one batch and returns once it is durable.
	AppendRecords(ctx context.Context, topic string, partition int32, recs []kafkaproto.Record) error
	// ScanRecords calls fn for every record from the log start, in order.
	ScanRecords(ctx context.Context, topic string, partition int32, fn func(offset int64, r kafkaproto.Record) error) error
}

// TopicStore is the production OffsetStore: partition 0 of the compacted
// internal topic __consumer_offsets (one partition: this broker coordinates
// every group). Safe for concurrent use.
type TopicStore struct {
	log TopicLog
}

var _ OffsetStore = (*TopicStore)(nil)

// NewTopicStore returns a store writing through l.
func NewTopicStore(l TopicLog) *TopicStore { return &TopicStore{log: l} }

// offsetsTopicConfigs are the topic configs Kafka gives __consumer_offsets
// that matter here: compaction keeps the latest record per key.
var offsetsTopicConfigs = map[string]string{"cleanup.policy": "compact"}

// Append writes records as one durable batch. A partition this broker no
// longer leads is reported as ErrNotCoordinator.
func (s *TopicStore) Append(ctx context.Context, records []Record) error {
	recs := make([]kafkaproto.Record, len(records))
	for i, r := range records {
		recs[i] = kafkaproto.Record{Key: r.Key, Value: r.Value}
	}
	err := s.log.AppendRecords(ctx, OffsetsTopic, 0, recs)
	if errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
	}
	return err
}

// Load creates the topic when missing (a fresh broker), then replays it.
// The records passed to fn alias the log's read buffers: fn must copy what
// it keeps (the coordinator does).
func (s *TopicStore) Load(ctx context.Context, fn func(Record) error) error {
	if err := s.log.EnsureInternalTopic(OffsetsTopic, 1, offsetsTopicConfigs); err != nil {
		return fmt.Errorf("ensuring %s: %w", OffsetsTopic, err)
	}
	return s.log.ScanRecords(ctx, OffsetsTopic, 0, func(_ int64, r kafkaproto.Record) error {
		return fn(Record{Key: r.Key, Value: r.Value})
	})
}
