package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/cluster"
)

// fakeCluster is an in-memory metadata quorum shared by the in-process
// Servers of one test: every change publishes a new immutable image. The
// test plays the controller's failure handling by hand (fence, elect).
type fakeCluster struct {
	mu       sync.Mutex
	im       *cluster.Image
	changed  chan struct{} // closed when a newer image exists
	nextPID  int64
	refuse   error // returned by AlterPartition while set
	alters   int   // AlterPartition calls accepted
	attempts int   // AlterPartition calls
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{
		im:      &cluster.Image{Version: 1, ClusterID: "fake-cluster", Controller: 1, Brokers: map[int32]cluster.Broker{}, Topics: map[string]*cluster.Topic{}},
		changed: make(chan struct{}),
		nextPID: 1000,
	}
}

var _ Cluster = (*fakeCluster)(nil)

func (f *fakeCluster) Image() (*cluster.Image, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.im, f.changed
}

func (f *fakeCluster) WaitFor(ctx context.Context, v uint64) error {
	for {
		im, ch := f.Image()
		if im.Version >= v {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// edit applies fn to a deep copy of the image and publishes it. Requires f.mu.
func (f *fakeCluster) editLocked(fn func(im *cluster.Image)) uint64 {
	next := *f.im
	next.Brokers = maps.Clone(f.im.Brokers)
	next.Topics = map[string]*cluster.Topic{}
	for n, t := range f.im.Topics {
		ct := *t
		ct.Configs = maps.Clone(t.Configs)
		ct.Partitions = make([]cluster.Partition, len(t.Partitions))
		for i, p := range t.Partitions {
			p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
			ct.Partitions[i] = p
		}
		next.Topics[n] = &ct
	}
	fn(&next)
	next.Version++
	f.im = &next
	close(f.changed)
	f.changed = make(chan struct{})
	return next.Version
}

func (f *fakeCluster) edit(fn func(im *cluster.Image)) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.editLocked(fn)
}

// register adds (or re-registers, unfenced) a broker at addr.
func (f *fakeCluster) register(t *testing.T, id int32, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	f.edit(func(im *cluster.Image) {
		im.Brokers[id] = cluster.Broker{ID: id, Host: host, Port: int32(p), Epoch: im.Brokers[id].Epoch + 1}
	})
}

// fence marks a broker dead: it leaves every ISR it is not the last
// member of, and each partition it led gets the next ISR member as leader
// (leader epoch + 1), as the controller does.
func (f *fakeCluster) fence(id int32) {
	f.edit(func(im *cluster.Image) {
		b := im.Brokers[id]
		b.Fenced = true
		im.Brokers[id] = b
		for _, t := range im.Topics {
			for i := range t.Partitions {
				p := &t.Partitions[i]
				if slices.Contains(p.ISR, id) && len(p.ISR) > 1 {
					p.ISR = slices.DeleteFunc(p.ISR, func(r int32) bool { return r == id })
					p.PartitionEpoch++
				}
				if p.Leader == id {
					p.Leader = -1
					for _, r := range p.ISR {
						if r != id && im.Alive(r) {
							p.Leader = r
							break
						}
					}
					p.LeaderEpoch++
					p.PartitionEpoch++
				}
			}
		}
	})
}

func (f *fakeCluster) partition(topic string, i int32) cluster.Partition {
	im, _ := f.Image()
	p, _ := im.Lookup(topic, i)
	return p
}

func (f *fakeCluster) CreateTopic(_ context.Context, spec cluster.TopicSpec, validateOnly bool) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.im.Topics[spec.Name] != nil {
		return 0, kerr.TopicAlreadyExists
	}
	alive := f.im.SortedBrokerIDs(true)
	rf := int(spec.ReplicationFactor)
	if rf < 0 {
		rf = min(3, len(alive))
	}
	if rf > len(alive) {
		return 0, fmt.Errorf("%w: %d > %d brokers", kerr.InvalidReplicationFactor, rf, len(alive))
	}
	assign := spec.Assignment
	if assign == nil {
		n := max(spec.Partitions, 1)
		for i := range n {
			var rs []int32
			for j := range rf {
				rs = append(rs, alive[(int(i)+j)%len(alive)])
			}
			assign = append(assign, rs)
		}
	}
	if validateOnly {
		return f.im.Version, nil
	}
	return f.editLocked(func(im *cluster.Image) {
		ct := &cluster.Topic{Name: spec.Name, Configs: maps.Clone(spec.Configs)}
		_, _ = rand.Read(ct.ID[:])
		if ct.Configs == nil {
			ct.Configs = map[string]string{}
		}
		for _, rs := range assign {
			ct.Partitions = append(ct.Partitions, cluster.Partition{Replicas: slices.Clone(rs), ISR: slices.Clone(rs), Leader: rs[0]})
		}
		im.Topics[spec.Name] = ct
	}), nil
}

func (f *fakeCluster) DeleteTopic(_ context.Context, name string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.im.Topics[name] == nil {
		return 0, kerr.UnknownTopicOrPartition
	}
	return f.editLocked(func(im *cluster.Image) { delete(im.Topics, name) }), nil
}

func (f *fakeCluster) CreatePartitions(_ context.Context, name string, total int32, validateOnly bool) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.im.Topics[name]
	if t == nil {
		return 0, kerr.UnknownTopicOrPartition
	}
	if int(total) <= len(t.Partitions) {
		return 0, kerr.InvalidPartitions
	}
	if validateOnly {
		return f.im.Version, nil
	}
	return f.editLocked(func(im *cluster.Image) {
		ct := im.Topics[name]
		for len(ct.Partitions) < int(total) {
			rs := slices.Clone(ct.Partitions[0].Replicas)
			ct.Partitions = append(ct.Partitions, cluster.Partition{Replicas: rs, ISR: slices.Clone(rs), Leader: rs[0]})
		}
	}), nil
}

func (f *fakeCluster) SetTopicConfigs(_ context.Context, name string, configs map[string]string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.im.Topics[name] == nil {
		return 0, kerr.UnknownTopicOrPartition
	}
	return f.editLocked(func(im *cluster.Image) { im.Topics[name].Configs = maps.Clone(configs) }), nil
}

func (f *fakeCluster) AlterPartition(_ context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (cluster.Partition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.refuse != nil {
		return cluster.Partition{}, f.refuse
	}
	p, ok := f.im.Lookup(topic, partition)
	switch {
	case !ok:
		return cluster.Partition{}, kerr.UnknownTopicOrPartition
	case leaderEpoch != p.LeaderEpoch:
		return cluster.Partition{}, kerr.FencedLeaderEpoch
	case partitionEpoch != p.PartitionEpoch:
		return cluster.Partition{}, kerr.InvalidUpdateVersion
	}
	for _, r := range isr {
		if !slices.Contains(p.Replicas, r) || (!slices.Contains(p.ISR, r) && !f.im.Alive(r)) {
			return cluster.Partition{}, kerr.IneligibleReplica
		}
	}
	f.alters++
	var out cluster.Partition
	f.editLocked(func(im *cluster.Image) {
		cp := &im.Topics[topic].Partitions[partition]
		cp.ISR = slices.Clone(isr)
		cp.PartitionEpoch++
		out = *cp
	})
	out.Replicas, out.ISR = slices.Clone(out.Replicas), slices.Clone(out.ISR)
	return out, nil
}

func (f *fakeCluster) AllocateProducerIDs(_ context.Context, count int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.nextPID
	f.nextPID += count
	return first, nil
}

func (f *fakeCluster) counts() (attempts, alters int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, f.alters
}

func (f *fakeCluster) setRefuse(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = err
}
