// Package mysql is Sluice's MySQL/MariaDB change-data-capture source: a
// consistent initial snapshot, then the ROW binlog read as a replica
// (go-mysql's BinlogSyncer), turned into Debezium-compatible change events
// keyed by primary key (CONTRACTS.md "Names and records").
//
// Ownership. A Source owns, from Open until Close: a database/sql pool
// (prerequisite checks, schema reads, snapshot connections), one binlog
// connection (owned by the run goroutine) and the run goroutine itself
// (DESIGN.md). Close cancels and waits for it. Both kinds of connection
// use the one TLS config built from the DSN (`tls`, `ca_file`,
// `cert_file`, `key_file`; DESIGN.md "TLS").
//
// Invariants.
//   - Positions are emitted only at transaction boundaries (XID, COMMIT, or
//     an autocommitted DDL), so resuming never starts inside a transaction.
//   - A Position covers every record of its batch and of all earlier
//     batches. The runtime stores it only after the broker acknowledged all
//     of them; this source keeps no upstream state that runs ahead of Ack
//     (a binlog reader has no slot to confirm), so a crash re-sends, never
//     skips.
//   - The Position carries the column schemas of the captured tables as of
//     that point in the binlog, so a restart after an ALTER decodes the
//     older events still ahead with the columns they were written with; with
//     binlog_row_metadata=FULL each row event's table map names its columns,
//     so rows between several DDLs decode exactly (DESIGN.md).
//   - Binlog decoding never panics out of the package: a panic becomes an
//     ErrDecode carrying the binlog file and position.
//   - Outbox (Config.Outbox): inserts into the outbox table become event
//     records through the shared outbox/router.Router, in their
//     transaction's segment; with OutboxCleanup their rows are deleted only
//     by Ack, i.e. after the broker acknowledged them (DESIGN.md "Outbox").
//
// Position format (version 1): one version byte, then JSON (position.go).
//
//	+------+-------------------------------------------------------------+
//	| 0x01 | {"flavor","gtid","file","pos","schemas":{..},"snap":{..}}    |
//	+------+-------------------------------------------------------------+
//
// Lock order: Source.mu only.
package mysql
