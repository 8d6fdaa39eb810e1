// Package elasticsearch is the Elasticsearch sink: it applies change events
// (Debezium envelopes, CONTRACTS.md "Names and records") to documents of an
// index, through the bulk API, so that the index mirrors the source table.
//
// # Ownership
//
// A Sink owns its aliases (Config.Index, and the values of Config.Indexes)
// and the concrete indexes named `<alias>-<yyyymmddhhmmssSSS>` (UTC) behind
// them; it deletes no other index. Per document only one sink instance
// writes at a time: the consumer group gives each partition, and so each
// key, to one member.
//
// # Indexes and aliases
//
// Searches use the alias, and so does the sink: bulk actions name the alias,
// and Elasticsearch resolves it when it executes them. Open looks the alias
// up; missing, it creates
// `<alias>-<timestamp>` with the configured settings and mappings and the
// alias in one create-index request, so the index never exists without its
// alias. If two instances create one each at the same moment, the one with
// the higher name removes its index (POST /_aliases remove_index) and both
// use the lower one (while the alias covers both, writes through it fail
// with "no write index" and are retried as transient). Config.Indexes gives
// topics their own alias (one table per index); each is handled alike. If a concrete index named like the alias exists (e.g.
// auto-created by a plain client), the sink adopts it: it writes to it as
// it is (logging a warning), and the next rebuild replaces it by the alias
// in the same atomic /_aliases request (remove_index + add), so searches by
// that name never fail.
//
// # Documents
//
//	_id       the key's values as text in key order, `\` and `:` escaped,
//	          joined by `:` (connectors.KeyID): {"id":42} → 42,
//	          {"a":"x:y","b":1} → x\:y:1
//	op c u r  index (create or replace) _source = the after image, as its
//	          bytes came, or with Fields selected and Rename applied
//	op d,     delete; a 404 (already gone) is success
//	tombstone
//	op t      ignored (a truncate names no document; rebuild to clear)
//
// With Config.Value = ValueDocument (pipeline file `value: document`, for
// topics whose values are not change events, e.g. outbox events) the value
// is the document itself: a JSON object is indexed as it came (Fields and
// Rename apply), a null value deletes, anything else is rejected for
// itself; no member (`op`, `after`) is interpreted. _id is as above when
// the key is a JSON object, else the key as text (an aggregate id), `\`
// and `:` escaped.
//
// Envelopes and keys are read by fast paths (scan.go) that fall back to
// connectors.DecodeEnvelope and connectors.ParseRow whenever unsure; they
// are fuzzed to agree with them. A value whose after image is not valid
// JSON is then rejected by Elasticsearch for itself, so it still ends in
// the *connectors.BatchError.
//
// No external version is used: the Kafka offset would make a replay after
// an offset reset be rejected as a conflict. Order per document comes from
// the log instead: within a batch only the last operation per document is
// sent, and a sink has at most one bulk request in flight (Write holds the
// sink's lock and sends a batch's requests one after the other), so two
// writes of one document are never reordered. A replay of the same records
// therefore leaves the same documents.
//
// # Failures
//
// Write returns only after Elasticsearch acknowledged every document it
// reports as done. Connection errors, 429 and 5xx, for the whole request or
// single items (also index_not_found, cluster_block, unavailable_shards,
// es_rejected_execution, circuit_breaking), are retried inside Write with
// backoff (50 ms doubling to 2 s) for at most Config.RetryTimeout; then
// Write returns ErrUnavailable and the runtime retries the batch (offsets
// are not committed). A request refused as too large (413) is sent in
// halves; a single document too large is rejected for itself. Another 4xx
// for the whole request returns ErrRequest.
// A document rejected for itself (any other per-item 4xx, e.g.
// mapper_parsing_exception, illegal_argument_exception), and a record that
// is not a change event (ErrRecord), is reported in a
// *connectors.BatchError with the reason; the rest of the batch is indexed.
// If the last operation of a document in a batch is rejected, the
// operations it superseded in that batch are not applied either.
//
// # Rebuild (connectors.Rebuilder)
//
// BeginRebuild creates `<alias>-<timestamp>` for every alias, behind no
// alias. While it runs, Write sends each record to the new index, and a
// record past the last offset this sink instance had written for its
// partition before (a live change) also through the alias, so the
// alias keeps serving current data; replayed records (offsets it had
// written already) go to the new index only, so the alias never shows a
// document in an older state than before. FinishRebuild (the replay caught
// up) refreshes the new index, moves the alias in one POST /_aliases
// (remove old + add new: atomic, so searches never see a half-built index
// or none), and deletes the older dated indexes of the alias except the
// newest KeepIndexes (including ones left by abandoned rebuilds). A sink
// closed mid-rebuild leaves its new index behind no alias; the runtime
// starts the rebuild again and a later FinishRebuild deletes the leftover.
// A rebuild assumes one member in the sink's consumer group.
// RebuildProgress and the gauge sluice_sink_elasticsearch_rebuild_docs_written
// expose the documents written to the new indexes.
//
// # Locks
//
// Sink.mu guards the alias state, the rebuild and the per-partition last
// offsets; Write, Open, Close, BeginRebuild and FinishRebuild hold it for
// their whole call. Check takes no lock. No goroutine outlives a call.
//
// The Elasticsearch of the test environment has no REST root (GET / is
// 405), so the sink never calls the root endpoint: readiness is
// /_cluster/health (Check).
package elasticsearch
