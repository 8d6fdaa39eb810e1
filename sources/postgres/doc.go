// Package postgres is Sluice's Postgres change-data-capture source: an
// initial snapshot consistent with the stream, then pgoutput logical
// replication from a permanent slot, turned into Debezium-compatible change
// events keyed by primary key (CONTRACTS.md "Names and records").
//
// Ownership. A Source owns, from Open until Close: a pgx pool (snapshot
// reads, catalog and type lookups, heartbeats, slot metrics), at most one
// replication connection (owned by the stream goroutine, or held idle by the
// snapshot phase while its exported snapshot is in use), with OutboxCleanup
// a one-connection pool for the cleaner's DELETEs, and the goroutines
// listed in DESIGN.md. Close stops and waits for all of them.
//
// Invariants.
//   - The slot's confirmed flush LSN is only ever advanced from Ack, to the
//     flush LSN of a Position this source emitted and the runtime
//     acknowledged: never past what is durable downstream.
//   - Records are emitted in commit order; within a transaction in change
//     order. A Position covers every record of its batch and of all earlier
//     batches, and resuming from it (Open) repeats nothing it covers and skips
//     nothing it does not.
//   - The snapshot of a table is read under an exported snapshot whose
//     consistent point is where streaming of that table starts, so no change
//     is lost or applied out of order around the boundary.
//   - Outbox events (Config.Outbox: inserts into the outbox table, or
//     transactional logical decoding messages with its prefix) are routed by
//     the shared, immutable outbox/router.Router and travel with their
//     transaction's records, so the two invariants above hold for them too;
//     the outbox table never gets a changelog topic or a snapshot.
//   - With OutboxCleanup, a routed outbox row is deleted only after Ack
//     acknowledged a Position covering its transaction's commit: its record
//     is durable in the broker first. A failed DELETE is retried at the next
//     Ack and never fails the source.
//   - pgoutput parsing never panics out of the package: a panic becomes an
//     error carrying the LSN (ErrDecode).
//
// Lock order: Source.mu → queue.mu (never the other way).
package postgres
