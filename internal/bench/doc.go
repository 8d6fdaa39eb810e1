// Package bench measures a Kafka-compatible broker from the client side with
// franz-go: produce throughput and per-record acknowledgement latency, then
// consume throughput. `sluice bench` runs it against our broker and Apache
// Kafka alike, with the same client settings, so the two are comparable.
//
// e2e.go is the end-to-end bench (`sluice bench e2e`): it paces INSERTs
// into a Postgres table while a pipeline (the caller's, run as `sluice
// run` runs it) streams them through the broker into Redis, and times each
// row from the return of its commit to Redis's keyspace notification of
// its SET. It owns its watcher, worker and sampler goroutines and waits for
// them before returning; it turns keyspace notifications on for the run
// and restores the old setting.
package bench
