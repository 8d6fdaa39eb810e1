// Package outbox is the application side of the transactional outbox: it
// writes events in the application's own database transaction, so an event
// exists if and only if the transaction that produced it commits. Sluice's
// CDC sources then route the events to topics (package outbox/router,
// CONTRACTS.md "Outbox").
//
// Two modes:
//
//   - TableMode (Postgres, MySQL): one multi-row INSERT into the outbox
//     table (DDL ships with the package: DDL, sql/postgres.sql,
//     sql/mysql.sql). The source routes inserts of that table.
//   - MessageMode (Postgres only): no row at all; each event is a
//     transactional pg_logical_emit_message(true, prefix, content) with
//     content {"id","aggregatetype","aggregateid","type","payload","headers"}
//     (payload embedded as JSON). Nothing to clean up; the WAL carries it.
//
// Invariants:
//
//   - Write never commits or rolls back: the caller's transaction decides.
//   - Events of one Write keep their order (one statement, rows in argument
//     order); events of one aggregate written in successive transactions are
//     routed in commit order, so a consumer sees them in order per key.
//   - Every event carries an ID (UUIDv7 by default, time-ordered); consumers
//     deduplicate on the "id" header, since delivery is at least once.
//
// A Writer is immutable after New and safe for concurrent use.
package outbox
