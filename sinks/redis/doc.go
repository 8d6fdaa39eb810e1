// Package redis is the Redis sink: it applies change events (Debezium
// envelopes, CONTRACTS.md "Names and records") to a standalone Redis or a
// Redis Cluster, so that the keys mirror the rows of the source tables.
//
// # Ownership
//
// A Sink owns its go-redis client and the keys under its key prefix(es).
// It writes nothing else, and deletes only keys under its prefixes
// (rebuild sweeps and truncates). Per key only one sink instance writes at
// a time: the consumer group gives each partition, and so each key, to one
// member.
//
// # Keys
//
// The Redis key is the `key` template rendered as written, each `{column}`
// replaced by that column of the record key ({"id":42} → 42): strings as
// they are, numbers as their JSON literal, booleans true/false, null as the
// empty string (connectors.KeyText), then `\` is put before every `:` and
// `\` (connectors.EscapeKeyPart). Nothing is prepended. `customer:{id}`
// with key {"id":"a:b"} is `customer:a\:b`. The template is parsed by New:
// `{` always opens a placeholder; an unclosed or empty placeholder, a `{`
// inside one, a stray `}` and a template without placeholder are errors
// naming the offending text. A placeholder naming no column of a record's
// key rejects that record (*connectors.BatchError → dead-letter topic). A
// template that leaves key columns out maps several rows to one key; that
// is the user's choice.
//
// Without `key`, the template is `<pipeline>:<table>:{k1}:{k2}...` over all
// key columns in key order (`shop:customers:42`, `shop:lines:7:1`). The
// table is the envelope's source.table; a tombstone has no envelope, so its
// table is the topic's last dot-separated segment, which is the same for
// changelog topics `<prefix>.<schema>.<table>` (not for topics renamed by a
// `route` transform: there the delete event before the tombstone removes
// the key, and the tombstone's DEL is a no-op).
//
// The prefix of a sink is the template's text before its first `{`
// (default template: `<pipeline>:<table>:` for each table). Rebuild and
// truncate delete keys under it; a template starting with `{` has no prefix,
// so the sink refuses BeginRebuild and rejects truncate events (ErrNoPrefix)
// rather than sweep the whole database.
//
// # Modes
//
//	op r, c, u, mode string  SET key <after JSON> [PX ttl]: the image bytes as
//	                         they came (a TOAST merge re-encodes them, in
//	                         column order, numbers exact)
//	op r, c, u, mode hash    one field per column of after: value as text
//	                         (like key values; nested JSON compact). In one
//	                         Lua script per key (atomic): HDEL fields that are
//	                         NULL now or absent from the image (dropped), HSET
//	                         the others, PEXPIRE ttl or PERSIST
//	op d, tombstone          DEL key
//	op t (truncate)          delete every key under the prefix of the table
//	                         (default template: `<pipeline>:<table>:`; a
//	                         custom template: its prefix, i.e. the sink's whole
//	                         key space — a template shared by several tables is
//	                         one key space). SCAN MATCH + UNLINK, every master.
//
// # Values that are documents (value: document)
//
// With Config.Value = ValueDocument (pipeline file `value: document`, for
// topics whose values are not change events, e.g. outbox events, whose
// value is the payload) the value is the document: a JSON object is SET as
// it came (mode hash: HSET of its top-level fields, as for an image), a
// null value (tombstone) is a DEL, anything else is rejected for itself
// (dead-letter topic). No field is interpreted: a payload with `op` or
// `after` members is stored as it is. The key's columns are the record
// key's when it is a JSON object, else one column `id` holding the key as
// text (an aggregate id `o-17` → `{id}` = o-17); the default template's
// table is the topic's last segment (`outbox.event.order` → `order`), so
// `<pipeline>:order:o-17`. Truncates do not exist in this mode.
//
// With ttl > 0 every write sets the TTL again; with ttl 0 a write leaves the
// key without TTL (SET clears it; the hash script PERSISTs).
//
// Unchanged TOAST: a column whose value is the JSON string
// "__debezium_unavailable_value" (Debezium's marker) is never written. In
// hash mode that field is kept as stored. In string mode the column is
// merged from the key's current value (an earlier record of the same batch,
// else a GET before the batch's pipeline), else from the `before` image,
// else left out of the stored JSON.
//
// # Writes, order and failures
//
// Write turns the batch into commands in record order and sends them in one
// pipeline (split only around truncates), then waits for every reply: Write
// returns only after Redis acknowledged the whole batch. Redis runs one
// connection's commands in order, and in a cluster every command of a key
// goes to the key's master in order, so per-key order follows the log.
// Every command is idempotent (SET/script = upsert, DEL), so a replay, or a
// retry of a partly applied batch, leaves Redis as one clean pass would.
//
// A record that is not a valid envelope (or lacks a key column, or a
// command Redis refuses for that key alone: WRONGTYPE) is reported in a
// *connectors.BatchError; the rest of the batch is applied. Any other error
// — Redis down or restarting, LOADING, READONLY, CLUSTERDOWN, OOM, a
// cancelled ctx — fails the Write as a whole, and the runtime retries it.
// If Redis lost the hash script (restart), Write loads it and reapplies
// once.
//
// # Rebuild
//
// BeginRebuild starts recording every key upserted (replay and live writes
// alike); FinishRebuild SCANs each prefix on every master and UNLINKs the
// keys not recorded: rows whose deletes were compacted away. Each SCAN page
// is filtered and deleted under the write lock, so a concurrent Write never
// loses a key to the sweep. The record of written keys lives in memory
// (about the key's length plus ~50 bytes per key); a process restart during
// a rebuild loses it, and the rebuild must be started again. The record is
// per sink instance: a rebuild assumes one member in the sink's consumer
// group, since with several members each would sweep the keys the others'
// replays wrote.
// RebuildProgress and the metrics sluice_sink_redis_rebuild_keys_written
// and sluice_sink_redis_rebuild_keys_swept_total expose the progress.
//
// # Locks
//
// Sink.mu guards the client, the table set and the rebuild record. Write
// holds it for the whole batch; a sweep holds it per SCAN page. Lock order
// mu, then cmu; cmu guards only the client fields, so Check never waits for
// a Write. Write's executor goroutine (it applies chunk i while chunk i+1
// is decoded) is owned by Write and ends before Write returns.
package redis
