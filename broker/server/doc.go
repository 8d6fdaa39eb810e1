// Package server is the Sluice broker's Kafka protocol front end: it accepts
// connections, reads size-capped frames, decodes them with kafkaproto, runs
// one handler per API key and writes responses in request order.
//
// Ownership: a Server owns its listener's connections, the topic table
// (names, topic ids, partition counts, configs; persisted in the data dir),
// the open partition logs, each partition's idempotent producer state,
// and the listener's security: TLS, SASL (PLAIN, SCRAM-SHA-256/512) with the
// SCRAM credentials (credentials.json), and the ACLs (acls.json).
// Consumer groups are delegated to a GroupCoordinator.
//
// Cluster mode (WithCluster): the topic table follows the metadata images
// of a Cluster (the Raft quorum, broker/cluster); topic changes go to its
// controller; each local partition is a leader or follower replica.
// The server owns the image reconciler, one replica fetcher per leader
// broker, the ISR loop and the high watermark checkpoint, all started by
// Run and stopped with its ctx (cluster.go, replica.go, follower.go).
//
// Invariants:
//   - Responses on a connection are written in the order of the requests,
//     whatever order the handlers finish in; acks=0 produce gets none.
//   - A malformed or oversized request closes its connection and nothing else.
//   - Produce requests of one connection are handled one after the other, in
//     order, so an idempotent producer's pipelined batches reach the log in
//     sequence order. Invariant: the produce response is sent only after
//     the log returned from Append, i.e. after the batch is durable.
//   - An idempotent batch's producer-state check, its Append and the state
//     update happen under its producer's lock on the partition, so a
//     sequence number is checked against the state the log really has.
//     Other producers and non-idempotent batches append concurrently
//     (sharing fsyncs).
//   - The high watermark only rises, after Append returned; reads never
//     serve beyond it. In a cluster it is the smallest log end of the
//     in-sync replicas, only the leader serves clients, and a follower
//     reads up to the leader's durable log end.
//   - In a cluster a replica's log is changed only by its leader's Append
//     (stamped with its leader epoch) or, on a follower, by AppendReplica
//     of the leader's bytes and by truncation to the leader's epoch ends.
//   - On a SASL listener nothing but ApiVersions, SaslHandshake and
//     SaslAuthenticate is answered before authentication succeeds; any other
//     request closes the connection. No password or password-equivalent is
//     stored, logged or returned (only salts and SCRAM StoredKey/ServerKey).
//   - With ACLs on, the parts of a request the principal may not touch are
//     answered *_AUTHORIZATION_FAILED and never reach a handler: nothing is
//     written, created or deleted for them.
//
// Lock order (outer to inner): cs.syncMu -> Server.mu -> partition.life ->
// a producer's lock -> partition.appendMu -> partition.repl.mu ->
// partition.mu. No lock is held while waiting on the
// network. See DESIGN.md for the file map.
package server
