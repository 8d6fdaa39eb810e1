// Package kafkaclient turns Sluice's connection settings for a
// Kafka-compatible cluster — bootstrap brokers, TLS, SASL PLAIN/SCRAM — into
// franz-go client options. The CLI's admin commands and the connector runtime
// both connect through it, to the embedded broker or to any Kafka alike.
//
// Secrets (the SASL password, a key file's contents) are read when the
// options are built and never appear in String output or errors.
package kafkaclient
