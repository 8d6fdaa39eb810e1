// Package cluster is the broker's metadata quorum: a Raft group (hashicorp/raft)
// over the controller listeners of the --controller-quorum voters whose
// replicated state machine holds brokers and their liveness, topics,
// partition assignments, leaders, ISRs, leader and partition epochs, and
// producer id blocks. The Raft leader is the controller: it fences brokers
// that stop heartbeating, elects partition leaders from the ISR, places the
// replicas of new topics and commits ISR changes proposed by partition
// leaders.
//
// Ownership: a Node owns its Raft instance, its stores under its directory
// (DIR/raft.db, DIR/snapshots), the controller listener and every goroutine
// it starts; Run returns only after all of them ended. Data replication is
// not here: broker/server reads Images and does the Kafka-style fetching.
//
// Invariants:
//   - Every node applies the same commands in the same order and Apply is
//     deterministic (it reads only the command and the image), so all nodes
//     go through the same sequence of Images; Version is the Raft index.
//   - Images are immutable and copy-on-write; Image() never blocks on Raft.
//   - A partition's PartitionEpoch grows at every leader or ISR change and
//     LeaderEpoch at every leader change; every change names the epoch it
//     replaces, so a stale decision changes nothing.
//   - Only the active controller (Raft leader whose FSM passed a Barrier)
//     proposes commands; its decisions are serialised by controller.mu.
//
// Lock order: controller.mu -> Node.mu. Raft's FSM goroutine takes only
// Node.mu.
//
// Wire format of the controller listener (one TCP port for Raft and RPCs):
// the first byte of a connection is rpcMagic (0xC5) for a controller RPC
// connection, otherwise Raft's own rpc type byte (0-4). RPC frames:
//
//	+-----------------------+-------------------------------+
//	| length (4, BE uint32) | JSON rpcRequest/rpcResponse   |
//	+-----------------------+-------------------------------+
//
// See DESIGN.md for the state machine, the RPCs and the controller's rules.
package cluster
