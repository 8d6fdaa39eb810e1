// Package broker assembles one Sluice broker from its parts: the
// Kafka-protocol server (broker/server) over the partition logs
// (broker/log), and the consumer group coordinator (broker/group) whose
// state lives in the server's __consumer_offsets topic. `sluice broker`
// runs it as a process; `sluice run` embeds it.
//
// Lifecycle: New checks the data directory, opens every log and binds the
// listener, so a taken port or an unusable directory fails before anything
// is served. Run serves until its context is done, then stops accepting,
// answers the requests in flight, releases waiting group members, flushes
// and closes the logs.
package broker
