// Package group is the broker's consumer group coordinator: Kafka's classic
// group membership protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and
// committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), plus the admin
// APIs over them (DescribeGroups, ListGroups, DeleteGroups, FindCoordinator).
//
// # Ownership
//
// A [Coordinator] owns every group's in-memory state and the timers of the
// protocol (session expiry, rebalance and pending-sync timeouts, the initial
// rebalance delay, offset retention). Its goroutine is the caller's: [Coordinator.Run]
// replays the [OffsetStore] and then drives the timers until ctx is done.
// [Coordinator.Handle] is called concurrently by the server, one goroutine per
// request; it may block while a rebalance completes and returns when ctx is done.
//
// The coordinator never touches disk. Everything that must survive a restart
// (committed offsets and group metadata) is appended to an [OffsetStore]:
// [TopicStore] over partition 0 of the compacted internal topic
// __consumer_offsets (through the broker's [TopicLog]), or [MemStore] in tests.
// Decoded request bytes and replayed records alias buffers their owners
// reuse: the coordinator copies every byte slice it keeps.
//
// # Invariants
//
//   - A response is built with the request's version: resp.GetVersion() == req.GetVersion().
//   - A commit is acknowledged only after the store's Append returned (durable).
//   - For every key, the order of records in the store equals the order in
//     which the in-memory state changed: a group's records are appended while
//     its lock is held, so the latest record per key (what compaction keeps)
//     always matches memory.
//   - A group in state Dead is no longer in the coordinator's map; a request
//     that still holds a pointer to it answers COORDINATOR_NOT_AVAILABLE and the
//     client retries against the fresh group.
//
// # Lock order
//
// Coordinator.mu -> group.mu. Store appends happen under group.mu only (never
// under Coordinator.mu), so a slow fsync stalls one group, not all of them.
// Nothing blocks on a channel while holding a lock: waiters are buffered
// channels of size one, filled exactly once.
//
// # Wire format of __consumer_offsets records
//
// Kafka's own schema, so Kafka tools can read the topic (all integers big endian,
// strings int16 length + bytes; kmsg does the encoding):
//
//	offset commit  key   = int16 version(1) | string group | string topic | int32 partition
//	               value = int16 version(3) | int64 offset | int32 leader_epoch |
//	                       string metadata | int64 commit_timestamp
//	group metadata key   = int16 version(2) | string group
//	               value = GroupMetadataValue version 3 (protocol type, generation,
//	                       protocol, leader, state timestamp, members with
//	                       subscription and assignment bytes)
//
// A nil value is a tombstone: the offset or the group was deleted. Replay reads
// offset values of versions 0-4 and group values 0-4; keys of versions other
// than 0, 1 and 2 belong to Kafka's newer group types and are skipped.
package group
