// Package log owns one partition's log on disk: segments of Kafka v2
// record batches, their sparse offset and time indexes, recovery,
// retention, truncation and compaction. It knows nothing of the network
// and touches disk only through internal/vfs.
//
// A partition directory holds, per segment with base offset B (20 digits):
//
//	B.log        record batches exactly as producers sent them, base offset assigned
//	B.index      sparse offset index (see index.go for the byte layout)
//	B.timeindex  sparse time index
//
// plus meta.checkpoint (log start offset, cleaner offset), epochs.checkpoint
// (the leader epoch cache, epoch.go), clean-shutdown
// (present only between a clean Close and the next Open) and, during a
// compaction swap, B.log.cleaned files and cleaner.swap (cleaner.go).
//
// A v2 batch on disk:
//
//	+------------+-----------+-------------+-------+--------+---------------------------------------+
//	| baseOffset | length    | leaderEpoch | magic | crc    | attributes ... records                |
//	| int64      | int32     | int32       | int8=2| uint32 | CRC-32C covers [attributes, end)      |
//	+------------+-----------+-------------+-------+--------+---------------------------------------+
//
// Invariants:
//   - Offsets in the log strictly increase; gaps appear only by compaction.
//   - Only the active (last) segment is written; a segment is fsynced
//     (log and indexes) when it is rolled, so only the active segment can
//     hold unsynced data.
//   - Append reports a batch durable (FlushMS == 0) only after an fsync
//     that began after the batch was written.
//   - Recovery never drops an intact batch that precedes every corrupt one.
//   - The log start offset is persisted before segments below it go.
//   - A leader epoch cache entry is persisted before the first batch of
//     its epoch is written; truncation cuts the data before the cache.
//     So on disk the cache can only be ahead of the data, and Open cuts it
//     back to the recovered end.
//   - A crash during TruncateTo leaves a batch prefix of the old log at
//     least as long as the new one (later segments go newest first, each
//     removal synced, before the cut), never a hole.
//
// Followers: AppendReplica appends the leader's batches byte for byte
// (offsets and epochs kept, gaps allowed); LatestEpoch and
// EndOffsetForEpoch answer OffsetForLeaderEpoch; TruncateTo cuts to a
// batch boundary at or below the offset; DurableEndOffset is the end
// covered by the last fsync.
//
// Lock order: Log.maintMu -> Log.flushMu -> Log.mu, and Log.durMu -> Log.mu
// (a read lock, only to read the write sequence number); nothing takes
// durMu while holding mu, flushMu or maintMu. Appends take mu to write,
// then durMu to wait; the group-commit syncer releases durMu and takes
// flushMu, then mu briefly (to write the pending bytes with one
// write(2); appenders only copy into that buffer); maintenance (retention, truncation,
// DeleteRecords, the cleaner's swap, Close) takes maintMu, flushMu, mu in
// order.
//
// Compaction and retention are driven from outside: Log.Maintain runs
// one pass for one log, and Cleaner runs passes for many logs on one
// goroutine owned by its caller (Cleaner.Run). See DESIGN.md.
package log
