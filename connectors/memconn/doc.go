// Package memconn holds an in-memory Source and Sink for tests of the
// connector runtime and of the conformance suite itself.
//
// Upstream plays the database: changes appended to it are read, in order, by
// any Source opened over it; a Source's Position is the JSON object
// {"seq":N}, N being the number of upstream entries consumed. Ack records the
// acknowledged position in the Upstream, like a replication slot's confirmed
// flush LSN, so a test can check the runtime never acknowledges a position
// before it is durable.
//
// Store plays the target: a Sink writes into it, upserting by (topic, key)
// and deleting on a tombstone, so re-delivery is idempotent. Tests inject
// whole-batch failures (a target that is down) and per-record rejections
// (reported as a *connectors.BatchError).
//
// Everything here is safe for concurrent use; every blocking call honours its
// ctx. Owner: the connectors runtime engineers.
package memconn
