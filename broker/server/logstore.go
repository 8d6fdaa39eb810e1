package server

import "context"

// partitionLog is what the server needs from one partition's log. The real
// implementation is broker/log (adapted in reallog.go); tests use memLog
// (memlog_test.go). Errors a client should see wrap a *kerr.Error; the
// adapter translates the log's sentinels, and kafkaproto.ErrorCode turns
// them into codes.
type partitionLog interface {
	// Append writes exactly one v2 batch, assigning its base offset; the
	// batch is durable when Append returns.
	Append(ctx context.Context, batch []byte) (appendResult, error)
	// Read returns raw batches starting with the one containing offset, at
	// least one whole batch if any exists at or after offset, and otherwise
	// at most maxBytes. The returned bytes must not be modified.
	Read(offset int64, maxBytes int) ([]byte, error)
	StartOffset() int64
	EndOffset() int64
	// OffsetForTimestamp returns the first offset whose timestamp is >= ts
	// and that timestamp, or (-1, -1) when there is none.
	OffsetForTimestamp(ts int64) (offset, timestamp int64, err error)
	// MaxTimestamp returns the largest timestamp and its offset ((-1, -1) if empty).
	MaxTimestamp() (timestamp, offset int64)
	DeleteRecordsBefore(offset int64) error
	SetConfig(cfg TopicConfig) error
	Size() int64
	Close() error
	Delete() error

	// Replication (cluster mode). AppendReplica appends whole batches as the
	// leader wrote them (offsets and epochs kept), durable on return.
	AppendReplica(ctx context.Context, batches []byte) (appendResult, error)
	// TruncateTo removes every batch at or after offset (whole batches).
	TruncateTo(offset int64) error
	// TruncateFullyAndStartAt empties the log and restarts it at offset.
	TruncateFullyAndStartAt(offset int64) error
	// SetLeaderEpoch makes Append stamp epoch into each batch.
	SetLeaderEpoch(epoch int32)
	// LatestEpoch is the largest leader epoch in the log, -1 if none.
	LatestEpoch() int32
	// EndOffsetForEpoch answers OffsetForLeaderEpoch from the epoch cache.
	EndOffsetForEpoch(epoch int32) (int32, int64)
}

// appendResult is what the server uses of an append.
type appendResult struct {
	BaseOffset, LastOffset int64
	LogAppendTime          int64 // -1 for CreateTime topics
}

// logOpener opens (creating if needed) the log of one partition in dir.
type logOpener func(dir string, cfg TopicConfig) (partitionLog, error)

// Option configures a Server beyond its Config.
type Option func(*Server)

// withLogOpener replaces the partition log implementation. Test seam: the
// in-memory log in memlog_test.go.
func withLogOpener(o logOpener) Option {
	return func(s *Server) { s.openLog, s.background = o, nil }
}
