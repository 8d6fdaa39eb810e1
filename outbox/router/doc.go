// Package router turns captured outbox events into broker records. It is
// pure code the CDC sources call (CONTRACTS.md "Outbox"): it owns the
// mapping from an outbox row, or from a Postgres logical decoding message,
// to a connectors.Record, and the optional cleanup of routed rows.
//
// Routing (Router):
//
//   - An outbox table is insert-only. Only inserts route (Route returns false
//     for every other op); a row deleted in the same transaction still
//     routes from its insert, since the insert is in the change stream.
//   - Topic: the template (default outbox.event.{aggregatetype}) with
//     {aggregatetype} and {type} replaced by the event's values. The topic is
//     not compacted and takes the source's partitions (TopicSpec).
//   - Key: aggregateid as written (its text, never JSON-quoted), so every
//     event of one aggregate lands in one partition, in commit order.
//   - Value: the payload JSON as written.
//   - Headers: "id" and "type" as text first, then the event's own headers
//     (the headers column or the message's "headers" object) in key order,
//     then the configured extra columns. Event headers named "id" or "type"
//     are dropped: those two are reserved for the event itself.
//   - Timestamp is left zero: the source sets the commit time.
//
// Message content (RouteMessage), the JSON object
//
//	{"id":"…","aggregatetype":"…","aggregateid":"…","type":"…","payload":{…},"headers":{"k":"v"}}
//
// with "headers" optional; unknown fields are ignored.
//
// Cleanup (Cleaner): rows may be deleted once routed, but only after the
// broker made their records durable, i.e. from the source's Ack.
// Invariant: ack after durable write.
//
// A Router is immutable after New and safe for concurrent use. A Cleaner is
// safe for concurrent use (Add from the read loop, Ack from the runtime).
package router
