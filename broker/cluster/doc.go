// Package cluster is the broker's metadata quorum: a Raft group (hashicorp/raft)
// over the controller listeners of the --controller-quorum voters whose
// replicated state machine holds brokers and their liveness, topics,
// partition assignments, leaders, ISRs, leader and partition epochs, and
// producer id blocks. The Raft leader is the controller: it fences brokers
// that stop heartbeating, elects partition leaders from the ISR, places the
// replicas of new topics and commits ISR changes proposed by partition
// leaders.
//
// Ownership: a Node owns its Raft instance, its stores under its directory,
// the controller listener and every goroutine it starts; Run returns only
// after all of them ended. Data replication is not here: broker/server reads
// Images and does the Kafka-style fetching.
//
// See DESIGN.md for the state machine, the RPCs and the controller's rules.
package cluster
