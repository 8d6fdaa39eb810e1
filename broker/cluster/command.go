package cluster

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Commands are the entries of the Raft log: JSON objects whose "op" names
// the change. Apply is deterministic: it reads only the command and the
// image it applies to, so every node computes the same sequence of images.
// A command that is no longer valid against the image it meets (a stale
// epoch, a topic created meanwhile) changes nothing but the Version and
// returns a *RequestError.
const (
	opSetClusterID        = "set_cluster_id"
	opRegisterBroker      = "register_broker"
	opFenceBroker         = "fence_broker"
	opUnfenceBroker       = "unfence_broker"
	opCreateTopic         = "create_topic"
	opDeleteTopic         = "delete_topic"
	opCreatePartitions    = "create_partitions"
	opSetConfigs          = "set_configs"
	opAlterPartition      = "alter_partition"
	opChangePartitions    = "change_partitions"
	opAllocateProducerIDs = "allocate_producer_ids"
)

// command is one Raft log entry.
type command struct {
	Op        string `json:"op"`
	ClusterID string `json:"cluster_id,omitempty"`
	// Broker is the registration (register_broker).
	Broker *Broker `json:"broker,omitempty"`
	// BrokerID and BrokerEpoch name the broker fenced, unfenced, or the
	// partition leader sending alter_partition.
	BrokerID    int32    `json:"broker_id,omitempty"`
	BrokerEpoch int64    `json:"broker_epoch,omitempty"`
	Topic       string   `json:"topic,omitempty"`
	TopicID     [16]byte `json:"topic_id,omitzero"`
	// Assignment is the replicas of each new partition (create_topic,
	// create_partitions).
	Assignment [][]int32         `json:"assignment,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	// Partition is the partition altered (alter_partition), or the
	// partition count expected before create_partitions.
	Partition      int32   `json:"partition,omitempty"`
	LeaderEpoch    int32   `json:"leader_epoch,omitempty"`
	PartitionEpoch int32   `json:"partition_epoch,omitempty"`
	ISR            []int32 `json:"isr,omitempty"`
	// Changes are leader/ISR changes decided by the controller; they apply
	// all or none (fence, unfence, register, change_partitions).
	Changes []PartitionChange `json:"changes,omitempty"`
	Count   int64             `json:"count,omitempty"`
}

// PartitionChange is a new leader and ISR for one partition, with the
// epochs the partition has after the change. It applies only when
// PartitionEpoch is the partition's current epoch + 1.
type PartitionChange struct {
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	ISR            []int32 `json:"isr"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
}

// applyResult is what FSM.Apply returns for a command (raft's
// ApplyFuture.Response).
type applyResult struct {
	Err       *RequestError `json:"err,omitempty"`
	First     int64         `json:"first,omitempty"`     // allocate_producer_ids
	Partition *Partition    `json:"partition,omitempty"` // alter_partition
	Epoch     int64         `json:"epoch,omitempty"`     // register_broker
}

// RequestError is a refused controller request. It unwraps to the
// *kerr.Error a Kafka client should see, so errors.Is(err,
// kerr.TopicAlreadyExists) and errors.As(err, new(*kerr.Error)) work.
type RequestError struct {
	Code int16  `json:"code"`
	Msg  string `json:"msg"`
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("cluster: %s (%s)", e.Msg, kerrName(e.Code))
}

// Unwrap returns the Kafka error of the code.
func (e *RequestError) Unwrap() error { return kerr.ErrorForCode(e.Code) }

func kerrName(code int16) string {
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke.Message
	}
	return fmt.Sprintf("error code %d", code)
}

// refuse builds a *RequestError with Kafka error ke.
func refuse(ke *kerr.Error, format string, args ...any) *RequestError {
	return &RequestError{Code: ke.Code, Msg: fmt.Sprintf(format, args...)}
}
