package cluster

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Limits on one request, to keep commands (and Raft entries) bounded.
const (
	maxPartitions  = 1 << 16
	maxTopicLength = 249
)

// validTopicName checks Kafka's topic name rules.
func validTopicName(name string) *RequestError {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicLength {
		return refuse(kerr.InvalidTopicException, "topic name %q is empty, '.', '..' or longer than %d", name, maxTopicLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return refuse(kerr.InvalidTopicException, "topic name %q: %q is not one of [a-zA-Z0-9._-]", name, r)
		}
	}
	return nil
}

// planTopic validates a CreateTopic request against im and returns the
// replicas of each partition: the explicit Assignment (validated), or a
// round-robin placement over the unfenced brokers. intn picks the placement's
// random start and shift (rand.IntN; tests pass a fixed one).
func planTopic(im *Image, spec *TopicSpec, set settings, intn func(int) int) ([][]int32, error) {
	if err := validTopicName(spec.Name); err != nil {
		return nil, err
	}
	if _, ok := im.Topics[spec.Name]; ok {
		return nil, refuse(kerr.TopicAlreadyExists, "topic %q already exists", spec.Name)
	}
	alive := im.SortedBrokerIDs(true)
	if len(spec.Assignment) > 0 {
		if spec.Partitions != -1 && int(spec.Partitions) != len(spec.Assignment) ||
			spec.ReplicationFactor != -1 && int(spec.ReplicationFactor) != len(spec.Assignment[0]) {
			return nil, refuse(kerr.InvalidRequest, "topic %q: an explicit assignment needs partitions and replication factor -1", spec.Name)
		}
		if len(spec.Assignment) > maxPartitions {
			return nil, refuse(kerr.InvalidPartitions, "topic %q: %d partitions, limit %d", spec.Name, len(spec.Assignment), maxPartitions)
		}
		rf := len(spec.Assignment[0])
		for i, replicas := range spec.Assignment {
			if len(replicas) != rf {
				return nil, refuse(kerr.InvalidReplicaAssignment, "topic %q partition %d: %d replicas, partition 0 has %d", spec.Name, i, len(replicas), rf)
			}
			if err := validReplicas(im, replicas); err != nil {
				return nil, refuse(kerr.InvalidReplicaAssignment, "topic %q partition %d: %s", spec.Name, i, err.Msg)
			}
			if !slices.ContainsFunc(replicas, im.Alive) {
				return nil, refuse(kerr.InvalidReplicaAssignment, "topic %q partition %d: every replica of %v is fenced", spec.Name, i, replicas)
			}
		}
		out := make([][]int32, len(spec.Assignment))
		for i, r := range spec.Assignment {
			out[i] = slices.Clone(r)
		}
		return out, nil
	}
	parts := spec.Partitions
	if parts == -1 {
		parts = set.numPartitions
	}
	if parts <= 0 || parts > maxPartitions {
		return nil, refuse(kerr.InvalidPartitions, "topic %q: %d partitions, want 1..%d", spec.Name, parts, maxPartitions)
	}
	rf := int(spec.ReplicationFactor)
	if rf == -1 {
		rf = set.defaultRF
		if rf == 0 {
			rf = min(3, len(alive))
		}
	}
	if rf <= 0 || rf > len(alive) {
		return nil, refuse(kerr.InvalidReplicationFactor, "topic %q: replication factor %d, %d brokers unfenced", spec.Name, rf, len(alive))
	}
	return placeReplicas(alive, int(parts), rf, intn(len(alive)), intn(len(alive)), 0), nil
}

// planPartitions validates growing topic name to total partitions and
// places the new ones with the replication factor of partition 0.
func planPartitions(im *Image, name string, total int32, intn func(int) int) ([][]int32, error) {
	t, ok := im.Topics[name]
	if !ok {
		return nil, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	have := len(t.Partitions)
	if int(total) <= have || total > maxPartitions {
		return nil, refuse(kerr.InvalidPartitions, "topic %q has %d partitions; %d does not grow it (limit %d)", name, have, total, maxPartitions)
	}
	rf := len(t.Partitions[0].Replicas)
	alive := im.SortedBrokerIDs(true)
	if rf > len(alive) {
		return nil, refuse(kerr.InvalidReplicationFactor, "topic %q: replication factor %d, %d brokers unfenced", name, rf, len(alive))
	}
	return placeReplicas(alive, int(total)-have, rf, intn(len(alive)), intn(len(alive)), have), nil
}
