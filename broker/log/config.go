package log

import (
	"errors"
	"fmt"
	"time"
)

// Cleanup policies.
const (
	PolicyDelete        = "delete"
	PolicyCompact       = "compact"
	PolicyCompactDelete = "compact,delete"
)

// Timestamp types (message.timestamp.type).
const (
	CreateTime    = "CreateTime"
	LogAppendTime = "LogAppendTime"
)

// Config holds one log's topic-level settings, named after Kafka's.
type Config struct {
	SegmentBytes int64 // segment.bytes: roll when the active segment would exceed it
	//lint:ignore ST1011 named after Kafka's *.ms settings; broker/server codes against these names
	SegmentMS          time.Duration // segment.ms: roll a non-empty active segment this old; 0 = never by time
	IndexIntervalBytes int           // index.interval.bytes: bytes between sparse index entries
	//lint:ignore ST1011 named after Kafka's *.ms settings; broker/server codes against these names
	RetentionMS    time.Duration // retention.ms; <0 = infinite
	RetentionBytes int64         // retention.bytes; <0 = infinite
	CleanupPolicy  string        // "delete", "compact", "compact,delete"
	//lint:ignore ST1011 named after Kafka's *.ms settings; broker/server codes against these names
	DeleteRetentionMS time.Duration // delete.retention.ms: how long tombstones survive compaction
	//lint:ignore ST1011 named after Kafka's *.ms settings; broker/server codes against these names
	MinCompactionLagMS     time.Duration // min.compaction.lag.ms
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio
	MaxMessageBytes        int           // max.message.bytes: the largest batch accepted
	FlushMessages          int64         // flush.messages: with FlushMS > 0, also fsync after this many unflushed records; 0 = no count trigger
	//lint:ignore ST1011 named after Kafka's *.ms settings; broker/server codes against these names
	FlushMS       time.Duration // flush.ms: 0 = every append is durable (group commit, our default); >0 = fsync at this interval
	TimestampType string        // message.timestamp.type: "CreateTime" (default, "" means it) or "LogAppendTime"
}

// DefaultConfig returns Kafka's topic defaults, except that FlushMS is 0:
// every append is durable before Append returns.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMS:              7 * 24 * time.Hour,
		IndexIntervalBytes:     4096,
		RetentionMS:            7 * 24 * time.Hour,
		RetentionBytes:         -1,
		CleanupPolicy:          PolicyDelete,
		DeleteRetentionMS:      24 * time.Hour,
		MinCompactionLagMS:     0,
		MinCleanableDirtyRatio: 0.5,
		MaxMessageBytes:        1048588,
		FlushMessages:          0,
		FlushMS:                0,
		TimestampType:          CreateTime,
	}
}

// Validate reports every out-of-range field (wrapping ErrInvalidConfig).
func (c Config) Validate() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, msg)) }
	if c.SegmentBytes < batchHeaderSize {
		bad("segment.bytes", "must be at least 61")
	}
	if c.SegmentMS < 0 {
		bad("segment.ms", "must not be negative")
	}
	if c.IndexIntervalBytes < 0 {
		bad("index.interval.bytes", "must not be negative")
	}
	switch c.CleanupPolicy {
	case PolicyDelete, PolicyCompact, PolicyCompactDelete, "delete,compact":
	default:
		bad("cleanup.policy", fmt.Sprintf("%q is not delete, compact or compact,delete", c.CleanupPolicy))
	}
	if c.DeleteRetentionMS < 0 {
		bad("delete.retention.ms", "must not be negative")
	}
	if c.MinCompactionLagMS < 0 {
		bad("min.compaction.lag.ms", "must not be negative")
	}
	if c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 {
		bad("min.cleanable.dirty.ratio", "must be within [0, 1]")
	}
	if c.MaxMessageBytes <= 0 {
		bad("max.message.bytes", "must be positive")
	}
	if c.FlushMessages < 0 {
		bad("flush.messages", "must not be negative")
	}
	if c.FlushMS < 0 {
		bad("flush.ms", "must not be negative")
	}
	switch c.TimestampType {
	case "", CreateTime, LogAppendTime:
	default:
		bad("message.timestamp.type", fmt.Sprintf("%q is not CreateTime or LogAppendTime", c.TimestampType))
	}
	return errors.Join(errs...)
}

func (c Config) compact() bool {
	return c.CleanupPolicy == PolicyCompact || c.CleanupPolicy == PolicyCompactDelete || c.CleanupPolicy == "delete,compact"
}

func (c Config) deletes() bool { return c.CleanupPolicy != PolicyCompact }
