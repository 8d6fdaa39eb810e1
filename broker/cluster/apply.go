package cluster

import (
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// maxProducerIDBlock bounds one allocate_producer_ids command.
const maxProducerIDBlock = 1 << 24

// apply returns the image after cmd, committed at Raft index index. It never
// modifies im; the returned image shares every unchanged topic with im. A
// refused command yields im with only Version changed, and the refusal in
// the result.
func apply(im *Image, cmd *command, index uint64) (*Image, applyResult) {
	next := im.shallowClone()
	next.Version = index
	res, rerr := applyTo(next, cmd)
	if rerr != nil {
		unchanged := *im
		unchanged.Version = index
		return &unchanged, applyResult{Err: rerr}
	}
	return next, res
}

// applyTo applies cmd to next, a shallow clone that may be modified
// copy-on-write. On error next is discarded by the caller.
func applyTo(next *Image, cmd *command) (applyResult, *RequestError) {
	switch cmd.Op {
	case opSetClusterID:
		if next.ClusterID == "" {
			next.ClusterID = cmd.ClusterID
		}
		return applyResult{}, nil

	case opRegisterBroker:
		b := cmd.Broker
		if b == nil || b.ID <= 0 {
			return applyResult{}, refuse(kerr.InvalidRequest, "register_broker without a valid broker")
		}
		if old, ok := next.Brokers[b.ID]; ok && b.Epoch <= old.Epoch {
			return applyResult{}, refuse(kerr.StaleBrokerEpoch, "broker %d registers with epoch %d, not above %d", b.ID, b.Epoch, old.Epoch)
		}
		if err := applyChanges(next, cmd.Changes); err != nil {
			return applyResult{}, err
		}
		next.Brokers[b.ID] = Broker{ID: b.ID, Host: b.Host, Port: b.Port, Fenced: true, Epoch: b.Epoch}
		return applyResult{Epoch: b.Epoch}, nil

	case opFenceBroker, opUnfenceBroker:
		b, ok := next.Brokers[cmd.BrokerID]
		if !ok {
			return applyResult{}, refuse(kerr.BrokerIDNotRegistered, "broker %d is not registered", cmd.BrokerID)
		}
		if cmd.BrokerEpoch != b.Epoch {
			return applyResult{}, refuse(kerr.StaleBrokerEpoch, "broker %d epoch %d, registered %d", cmd.BrokerID, cmd.BrokerEpoch, b.Epoch)
		}
		b.Fenced = cmd.Op == opFenceBroker
		next.Brokers[b.ID] = b
		if err := applyChanges(next, cmd.Changes); err != nil {
			return applyResult{}, err
		}
		return applyResult{}, nil

	case opChangePartitions:
		return applyResult{}, applyChanges(next, cmd.Changes)

	case opCreateTopic:
		if _, ok := next.Topics[cmd.Topic]; ok {
			return applyResult{}, refuse(kerr.TopicAlreadyExists, "topic %q already exists", cmd.Topic)
		}
		if cmd.Topic == "" || len(cmd.Assignment) == 0 {
			return applyResult{}, refuse(kerr.InvalidRequest, "create_topic %q without partitions", cmd.Topic)
		}
		parts, err := newPartitions(next, cmd.Topic, 0, cmd.Assignment)
		if err != nil {
			return applyResult{}, err
		}
		next.Topics[cmd.Topic] = &Topic{Name: cmd.Topic, ID: cmd.TopicID, Configs: maps.Clone(cmd.Configs), Partitions: parts}
		return applyResult{}, nil

	case opDeleteTopic:
		if _, ok := next.Topics[cmd.Topic]; !ok {
			return applyResult{}, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", cmd.Topic)
		}
		delete(next.Topics, cmd.Topic)
		return applyResult{}, nil

	case opCreatePartitions:
		t, ok := next.Topics[cmd.Topic]
		if !ok {
			return applyResult{}, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", cmd.Topic)
		}
		if int(cmd.Partition) != len(t.Partitions) || len(cmd.Assignment) == 0 {
			return applyResult{}, refuse(kerr.InvalidPartitions, "topic %q has %d partitions, not %d", cmd.Topic, len(t.Partitions), cmd.Partition)
		}
		parts, err := newPartitions(next, cmd.Topic, len(t.Partitions), cmd.Assignment)
		if err != nil {
			return applyResult{}, err
		}
		nt := *t
		nt.Partitions = append(slices.Clip(slices.Clone(t.Partitions)), parts...)
		next.Topics[cmd.Topic] = &nt
		return applyResult{}, nil

	case opSetConfigs:
		t, ok := next.Topics[cmd.Topic]
		if !ok {
			return applyResult{}, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", cmd.Topic)
		}
		nt := *t
		nt.Configs = maps.Clone(cmd.Configs)
		next.Topics[cmd.Topic] = &nt
		return applyResult{}, nil

	case opAlterPartition:
		p, err := checkAlterPartition(next, cmd)
		if err != nil {
			return applyResult{}, err
		}
		t := next.Topics[cmd.Topic]
		nt := *t
		nt.Partitions = slices.Clone(t.Partitions)
		nt.Partitions[cmd.Partition] = p
		next.Topics[cmd.Topic] = &nt
		out := p.clone()
		return applyResult{Partition: &out}, nil

	case opAllocateProducerIDs:
		if cmd.Count <= 0 || cmd.Count > maxProducerIDBlock {
			return applyResult{}, refuse(kerr.InvalidRequest, "producer id block of %d, want 1..%d", cmd.Count, maxProducerIDBlock)
		}
		if next.NextProducerID > math.MaxInt64-cmd.Count {
			return applyResult{}, refuse(kerr.ClusterAuthorizationFailed, "producer ids exhausted")
		}
		first := next.NextProducerID
		next.NextProducerID += cmd.Count
		return applyResult{First: first}, nil
	}
	return applyResult{}, refuse(kerr.InvalidRequest, "unknown command %q", cmd.Op)
}

// newPartitions builds the state of new partitions numbered from first:
// every replica is a registered broker, the ISR is the alive replicas and
// the leader the first of them; epochs start at 0.
func newPartitions(im *Image, topic string, first int, assignment [][]int32) ([]Partition, *RequestError) {
	out := make([]Partition, 0, len(assignment))
	for i, replicas := range assignment {
		if err := validReplicas(im, replicas); err != nil {
			return nil, refuse(kerr.InvalidReplicaAssignment, "topic %q partition %d: %s", topic, first+i, err.Msg)
		}
		var isr []int32
		for _, r := range replicas {
			if im.Alive(r) {
				isr = append(isr, r)
			}
		}
		if len(isr) == 0 {
			return nil, refuse(kerr.InvalidReplicaAssignment, "topic %q partition %d: every replica of %v is fenced", topic, first+i, replicas)
		}
		out = append(out, Partition{Replicas: slices.Clone(replicas), ISR: isr, Leader: isr[0]})
	}
	return out, nil
}

// validReplicas checks one partition's replica list: non-empty, distinct,
// registered brokers.
func validReplicas(im *Image, replicas []int32) *RequestError {
	if len(replicas) == 0 {
		return refuse(kerr.InvalidReplicaAssignment, "no replicas")
	}
	for i, r := range replicas {
		if _, ok := im.Brokers[r]; !ok {
			return refuse(kerr.InvalidReplicaAssignment, "broker %d is not registered", r)
		}
		if slices.Contains(replicas[:i], r) {
			return refuse(kerr.InvalidReplicaAssignment, "broker %d appears twice", r)
		}
	}
	return nil
}

// checkAlterPartition validates an ISR change proposed by a partition
// leader and returns the new partition state.
func checkAlterPartition(im *Image, cmd *command) (Partition, *RequestError) {
	cur, ok := im.Lookup(cmd.Topic, cmd.Partition)
	if !ok {
		return Partition{}, refuse(kerr.UnknownTopicOrPartition, "partition %s-%d does not exist", cmd.Topic, cmd.Partition)
	}
	if cmd.LeaderEpoch != cur.LeaderEpoch {
		return Partition{}, refuse(kerr.FencedLeaderEpoch, "partition %s-%d: leader epoch %d, current %d", cmd.Topic, cmd.Partition, cmd.LeaderEpoch, cur.LeaderEpoch)
	}
	if cmd.BrokerID != cur.Leader {
		return Partition{}, refuse(kerr.NotLeaderForPartition, "partition %s-%d: broker %d is not the leader (%d)", cmd.Topic, cmd.Partition, cmd.BrokerID, cur.Leader)
	}
	if cmd.PartitionEpoch != cur.PartitionEpoch {
		return Partition{}, refuse(kerr.InvalidUpdateVersion, "partition %s-%d: partition epoch %d, current %d", cmd.Topic, cmd.Partition, cmd.PartitionEpoch, cur.PartitionEpoch)
	}
	if !slices.Contains(cmd.ISR, cur.Leader) {
		return Partition{}, refuse(kerr.InvalidRequest, "partition %s-%d: ISR %v lacks the leader %d", cmd.Topic, cmd.Partition, cmd.ISR, cur.Leader)
	}
	for i, r := range cmd.ISR {
		if !slices.Contains(cur.Replicas, r) {
			return Partition{}, refuse(kerr.IneligibleReplica, "partition %s-%d: %d is not a replica of %v", cmd.Topic, cmd.Partition, r, cur.Replicas)
		}
		if slices.Contains(cmd.ISR[:i], r) {
			return Partition{}, refuse(kerr.InvalidRequest, "partition %s-%d: %d appears twice in the ISR", cmd.Topic, cmd.Partition, r)
		}
		if !slices.Contains(cur.ISR, r) && !im.Alive(r) {
			return Partition{}, refuse(kerr.IneligibleReplica, "partition %s-%d: broker %d is fenced and cannot join the ISR", cmd.Topic, cmd.Partition, r)
		}
	}
	next := cur.clone()
	next.ISR = inReplicaOrder(cur.Replicas, cmd.ISR)
	next.PartitionEpoch++
	return next, nil
}

// inReplicaOrder returns the members of set ordered as in replicas.
func inReplicaOrder(replicas, set []int32) []int32 {
	out := make([]int32, 0, len(set))
	for _, r := range replicas {
		if slices.Contains(set, r) {
			out = append(out, r)
		}
	}
	return out
}

// applyChanges applies controller-decided partition changes to next,
// copying each touched topic once. Every change must carry the partition's
// current epoch + 1.
func applyChanges(next *Image, changes []PartitionChange) *RequestError {
	copied := map[string]bool{}
	for _, ch := range changes {
		t, ok := next.Topics[ch.Topic]
		if !ok || ch.Partition < 0 || int(ch.Partition) >= len(t.Partitions) {
			return refuse(kerr.UnknownTopicOrPartition, "partition %s-%d does not exist", ch.Topic, ch.Partition)
		}
		cur := t.Partitions[ch.Partition]
		if ch.PartitionEpoch != cur.PartitionEpoch+1 {
			return refuse(kerr.InvalidUpdateVersion, "partition %s-%d: change for epoch %d, current %d", ch.Topic, ch.Partition, ch.PartitionEpoch, cur.PartitionEpoch)
		}
		if len(ch.ISR) == 0 || (ch.Leader != -1 && !slices.Contains(ch.ISR, ch.Leader)) {
			return refuse(kerr.InvalidRequest, "partition %s-%d: leader %d outside ISR %v", ch.Topic, ch.Partition, ch.Leader, ch.ISR)
		}
		for _, r := range ch.ISR {
			if !slices.Contains(cur.Replicas, r) {
				return refuse(kerr.IneligibleReplica, "partition %s-%d: %d is not a replica", ch.Topic, ch.Partition, r)
			}
		}
		if !copied[ch.Topic] {
			nt := *t
			nt.Partitions = slices.Clone(t.Partitions)
			t = &nt
			next.Topics[ch.Topic] = t
			copied[ch.Topic] = true
		}
		np := cur.clone()
		np.Leader = ch.Leader
		np.ISR = slices.Clone(ch.ISR)
		np.LeaderEpoch = ch.LeaderEpoch
		np.PartitionEpoch = ch.PartitionEpoch
		t.Partitions[ch.Partition] = np
	}
	return nil
}
