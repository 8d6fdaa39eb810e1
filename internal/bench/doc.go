// Package bench measures a Kafka-compatible broker from the client side with
// franz-go: produce throughput and per-record acknowledgement latency, then
// consume throughput. `sluice bench` runs it against our broker and Apache
// Kafka alike, with the same client settings, so the two are comparable.
package bench
