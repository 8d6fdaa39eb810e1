package cluster

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Voter is one member of the controller quorum: its node id and the
// host:port of its controller listener.
type Voter struct {
	ID   int32
	Addr string
}

// ParseQuorum parses --controller-quorum: "1@host:port,2@host:port,...".
// Ids must be positive and distinct, addresses host:port.
func ParseQuorum(s string) ([]Voter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("controller quorum: empty")
	}
	var out []Voter
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		idStr, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("controller quorum %q: %q is not ID@HOST:PORT", s, part)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("controller quorum %q: node id %q is not a positive integer", s, idStr)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return nil, fmt.Errorf("controller quorum %q: address %q is not HOST:PORT", s, addr)
		}
		if slices.ContainsFunc(out, func(v Voter) bool { return v.ID == int32(id) }) {
			return nil, fmt.Errorf("controller quorum %q: node id %d appears twice", s, id)
		}
		out = append(out, Voter{ID: int32(id), Addr: addr})
	}
	return out, nil
}

// Image is an immutable snapshot of the cluster metadata as of one applied
// Raft entry. Every node converges to the same sequence of images. Nothing
// reachable from an Image may be modified.
type Image struct {
	// Version is the Raft index of the last entry applied to this image.
	Version uint64
	// ClusterID is chosen once, by the first controller, and never changes.
	ClusterID string
	// Controller is the node id of the current Raft leader, -1 when unknown.
	// It is local knowledge (not replicated state) and may lag.
	Controller int32
	Brokers    map[int32]Broker
	Topics     map[string]*Topic
	// NextProducerID is the first producer id not yet handed out in a block.
	NextProducerID int64
}

// Broker is one registered broker.
type Broker struct {
	ID   int32
	Host string // advertised Kafka listener
	Port int32
	// Fenced brokers are not alive: they missed heartbeats for
	// broker.session.timeout.ms, shut down, or have not heartbeated since
	// registering. A fenced broker leads nothing and is in no ISR unless it
	// was the last member.
	Fenced bool
	// Epoch is the broker's registration incarnation; it grows each time the
	// process restarts and registers again.
	Epoch int64
}

// Topic is one topic and the state of each of its partitions.
type Topic struct {
	Name       string
	ID         [16]byte
	Configs    map[string]string // topic-level overrides only, as set by users
	Partitions []Partition       // index i is partition i
}

// Partition is the replication state of one partition.
type Partition struct {
	Replicas []int32 // assignment, preferred leader first
	ISR      []int32 // in-sync replicas, always a subset of Replicas
	Leader   int32   // -1: offline (no eligible leader)
	// LeaderEpoch grows by one at each leader change.
	LeaderEpoch int32
	// PartitionEpoch grows at every change of this partition's state (leader
	// or ISR); AlterPartition must name the current one.
	PartitionEpoch int32
}

// TopicSpec is a request to create a topic.
type TopicSpec struct {
	Name       string
	Partitions int32 // -1: num.partitions
	// ReplicationFactor -1 means default.replication.factor, or when that is
	// not configured, min(3, number of unfenced brokers).
	ReplicationFactor int16
	// Assignment, when set, gives the replicas of each partition explicitly
	// (Partitions and ReplicationFactor are then -1).
	Assignment [][]int32
	Configs    map[string]string
}

// Lookup returns the topic's partition, or false.
func (im *Image) Lookup(topic string, partition int32) (Partition, bool) {
	t := im.Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return Partition{}, false
	}
	return t.Partitions[partition], true
}

// Alive reports whether broker id is registered and unfenced.
func (im *Image) Alive(id int32) bool {
	b, ok := im.Brokers[id]
	return ok && !b.Fenced
}
