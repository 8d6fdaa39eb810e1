package cluster

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures one quorum member / broker.
type Config struct {
	NodeID           int32
	ControllerListen string            // host:port bound for Raft + controller RPCs
	Quorum           []Voter           // ParseQuorum(--controller-quorum); must contain NodeID
	Dir              string            // Raft state (log, stable store, snapshots); created
	BrokerHost       string            // this broker's advertised Kafka listener
	BrokerPort       int32             //
	Configs          map[string]string // broker configs (see DESIGN.md "Configs")
	Logger           *slog.Logger      // nil discards
	Registerer       prometheus.Registerer
}

// Node is one member of the metadata quorum and one broker.
type Node struct {
	cfg Config
}

// New binds the listener and opens the stores.
func New(cfg Config) (*Node, error) { return &Node{cfg: cfg}, nil }

// Run serves until ctx is done.
func (n *Node) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close releases a Node that was never Run.
func (n *Node) Close() error { return nil }

// Image returns the current metadata image and a channel closed when a newer one exists.
func (n *Node) Image() (*Image, <-chan struct{}) {
	return &Image{Controller: -1, Brokers: map[int32]Broker{}, Topics: map[string]*Topic{}}, make(chan struct{})
}

// WaitFor blocks until the local image's Version >= v (or ctx ends).
func (n *Node) WaitFor(ctx context.Context, v uint64) error { return ErrNotYet }

// CreateTopic creates a topic.
func (n *Node) CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (uint64, error) {
	return 0, ErrNotYet
}

// DeleteTopic deletes a topic.
func (n *Node) DeleteTopic(ctx context.Context, name string) (uint64, error) { return 0, ErrNotYet }

// CreatePartitions grows a topic to total partitions.
func (n *Node) CreatePartitions(ctx context.Context, name string, total int32, validateOnly bool) (uint64, error) {
	return 0, ErrNotYet
}

// SetTopicConfigs replaces a topic's config overrides.
func (n *Node) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) (uint64, error) {
	return 0, ErrNotYet
}

// AlterPartition changes a partition's ISR.
func (n *Node) AlterPartition(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (Partition, error) {
	return Partition{}, ErrNotYet
}

// AllocateProducerIDs reserves a block of count producer ids.
func (n *Node) AllocateProducerIDs(ctx context.Context, count int64) (first int64, err error) {
	return 0, ErrNotYet
}
