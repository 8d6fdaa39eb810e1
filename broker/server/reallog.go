package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/internal/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

// diskStore opens broker/log logs on the real file system and registers
// them with one log.Cleaner, which applies retention and compaction to
// every open log each interval (Run, owned by Server.Run).
type diskStore struct {
	logger  *slog.Logger
	cleaner *log.Cleaner
}

func newDiskStore(cfg Config) *diskStore {
	interval := time.Duration(min(cfg.brokerInt("log.cleaner.backoff.ms"), cfg.brokerInt("log.retention.check.interval.ms"))) * time.Millisecond
	return &diskStore{logger: cfg.Logger, cleaner: log.NewCleaner(interval, cfg.Logger.With("component", "cleaner"))}
}

func (d *diskStore) open(dir string, tc TopicConfig) (partitionLog, error) {
	l, err := log.Open(vfs.OS{}, dir, toLogConfig(tc), log.WithLogger(d.logger.With("log_dir", dir)))
	if err != nil {
		return nil, logErr(err)
	}
	d.cleaner.Add(l)
	return &diskLog{l: l, cleaner: d.cleaner}, nil
}

// run drives retention and compaction until ctx is done.
func (d *diskStore) run(ctx context.Context) error { return d.cleaner.Run(ctx) }

// toLogConfig maps a topic's effective config onto the log's. flush.* are
// not passed: the log's FlushMS 0 makes every Append durable before it
// returns, which the produce path's acks rely on.
func toLogConfig(tc TopicConfig) log.Config {
	c := log.DefaultConfig()
	c.SegmentBytes = tc.SegmentBytes
	c.SegmentMS = millis(tc.SegmentMS)
	c.IndexIntervalBytes = int(tc.IndexIntervalBytes)
	c.RetentionMS = millis(tc.RetentionMS)
	c.RetentionBytes = tc.RetentionBytes
	c.CleanupPolicy = tc.CleanupPolicy
	c.DeleteRetentionMS = millis(tc.DeleteRetentionMS)
	c.MinCompactionLagMS = millis(tc.MinCompactionLagMS)
	c.MinCleanableDirtyRatio = tc.MinCleanableDirtyRatio
	c.MaxMessageBytes = int(tc.MaxMessageBytes)
	c.FlushMessages, c.FlushMS = 0, 0
	c.TimestampType = tc.TimestampType
	return c
}

// millis converts Kafka milliseconds to a Duration, keeping -1 negative
// (infinite retention) and saturating instead of overflowing.
func millis(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// diskLog adapts *log.Log to partitionLog. It is the one place where the
// log's sentinel errors become protocol errors (wrapped, so the log's error
// stays inspectable): kafkaproto.ErrorCode then reads the kerr.
type diskLog struct {
	l       *log.Log
	cleaner *log.Cleaner
}

var _ partitionLog = (*diskLog)(nil)

func logErr(err error) error {
	var code *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, log.ErrCorruptBatch):
		code = kerr.CorruptMessage
	case errors.Is(err, log.ErrKeylessCompacted):
		code = kerr.InvalidRecord
	case errors.Is(err, log.ErrOffsetOutOfRange):
		code = kerr.OffsetOutOfRange
	case errors.Is(err, log.ErrRecordTooLarge):
		code = kerr.MessageTooLarge
	case errors.Is(err, log.ErrInvalidConfig):
		code = kerr.InvalidConfig
	case errors.Is(err, log.ErrClosed):
		code = kerr.NotLeaderForPartition // closing: the partition is going away
	case errors.Is(err, log.ErrFailed):
		code = kerr.KafkaStorageError
	default:
		return err
	}
	return fmt.Errorf("%w: %w", code, err)
}

func (d *diskLog) Append(ctx context.Context, batch []byte) (appendResult, error) {
	info, err := d.l.Append(ctx, batch)
	if err != nil {
		return appendResult{}, logErr(err)
	}
	return appendResult{BaseOffset: info.BaseOffset, LastOffset: info.LastOffset, LogAppendTime: info.LogAppendTime}, nil
}

func (d *diskLog) Read(offset int64, maxBytes int) ([]byte, error) {
	b, err := d.l.Read(offset, maxBytes)
	return b, logErr(err)
}

func (d *diskLog) StartOffset() int64 { return d.l.StartOffset() }
func (d *diskLog) EndOffset() int64   { return d.l.EndOffset() }

func (d *diskLog) OffsetForTimestamp(ts int64) (int64, int64, error) {
	off, found, err := d.l.OffsetForTimestamp(ts)
	return off, found, logErr(err)
}

func (d *diskLog) MaxTimestamp() (int64, int64) {
	off, ts := d.l.MaxTimestamp()
	return ts, off
}

func (d *diskLog) DeleteRecordsBefore(offset int64) error {
	return logErr(d.l.DeleteRecordsBefore(offset))
}

func (d *diskLog) SetConfig(tc TopicConfig) error { return logErr(d.l.SetConfig(toLogConfig(tc))) }
func (d *diskLog) Size() int64                    { return d.l.Size() }
func (d *diskLog) Close() error                   { d.cleaner.Remove(d.l); return d.l.Close() }
func (d *diskLog) Delete() error                  { d.cleaner.Remove(d.l); return d.l.Delete() }

func (d *diskLog) AppendReplica(ctx context.Context, batches []byte) (appendResult, error) {
	info, err := d.l.AppendReplica(ctx, batches)
	if err != nil {
		return appendResult{}, logErr(err)
	}
	return appendResult{BaseOffset: info.BaseOffset, LastOffset: info.LastOffset, LogAppendTime: -1}, nil
}

func (d *diskLog) TruncateTo(offset int64) error { return logErr(d.l.TruncateTo(offset)) }
func (d *diskLog) TruncateFullyAndStartAt(offset int64) error {
	return logErr(d.l.TruncateFullyAndStartAt(offset))
}
func (d *diskLog) SetLeaderEpoch(epoch int32) { d.l.SetLeaderEpoch(epoch) }
func (d *diskLog) LatestEpoch() int32         { return d.l.LatestEpoch() }
func (d *diskLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return d.l.EndOffsetForEpoch(epoch)
}
