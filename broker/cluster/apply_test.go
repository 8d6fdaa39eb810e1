package cluster

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// baseImage: brokers 1-3 alive, 4 fenced; topic "t" with two partitions.
func baseImage() *Image {
	im := emptyImage()
	im.Version = 10
	for id := int32(1); id <= 4; id++ {
		im.Brokers[id] = Broker{ID: id, Host: "h", Port: 9000 + id, Epoch: 5, Fenced: id == 4}
	}
	im.Topics["t"] = &Topic{Name: "t", Configs: map[string]string{}, Partitions: []Partition{
		{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 7},
		{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2},
	}}
	return im
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cmd     command
		wantErr *kerr.Error
		check   func(t *testing.T, im *Image, res applyResult)
	}{
		{name: "cluster id set once", cmd: command{Op: opSetClusterID, ClusterID: "abc"}, check: func(t *testing.T, im *Image, _ applyResult) {
			if im.ClusterID != "abc" {
				t.Errorf("ClusterID = %q", im.ClusterID)
			}
			again, _ := apply(im, &command{Op: opSetClusterID, ClusterID: "other"}, 12)
			if again.ClusterID != "abc" {
				t.Errorf("ClusterID changed to %q", again.ClusterID)
			}
		}},
		{name: "register new broker fenced", cmd: command{Op: opRegisterBroker, Broker: &Broker{ID: 9, Host: "x", Port: 1, Epoch: 1}}, check: func(t *testing.T, im *Image, res applyResult) {
			if b := im.Brokers[9]; !b.Fenced || b.Host != "x" || b.Epoch != 1 || res.Epoch != 1 {
				t.Errorf("broker 9 = %+v, res %+v", b, res)
			}
		}},
		{name: "register stale epoch", cmd: command{Op: opRegisterBroker, Broker: &Broker{ID: 1, Epoch: 5}}, wantErr: kerr.StaleBrokerEpoch},
		{name: "fence", cmd: command{Op: opFenceBroker, BrokerID: 2, BrokerEpoch: 5}, check: func(t *testing.T, im *Image, _ applyResult) {
			if !im.Brokers[2].Fenced {
				t.Error("broker 2 not fenced")
			}
		}},
		{name: "fence wrong epoch", cmd: command{Op: opFenceBroker, BrokerID: 2, BrokerEpoch: 4}, wantErr: kerr.StaleBrokerEpoch},
		{name: "unfence unknown", cmd: command{Op: opUnfenceBroker, BrokerID: 7, BrokerEpoch: 4}, wantErr: kerr.BrokerIDNotRegistered},
		{name: "unfence", cmd: command{Op: opUnfenceBroker, BrokerID: 4, BrokerEpoch: 5}, check: func(t *testing.T, im *Image, _ applyResult) {
			if !im.Alive(4) {
				t.Error("broker 4 not alive")
			}
		}},
		{name: "create topic", cmd: command{Op: opCreateTopic, Topic: "n", TopicID: [16]byte{1}, Assignment: [][]int32{{1, 4, 2}}, Configs: map[string]string{"a": "b"}}, check: func(t *testing.T, im *Image, _ applyResult) {
			p, ok := im.Lookup("n", 0)
			want := Partition{Replicas: []int32{1, 4, 2}, ISR: []int32{1, 2}, Leader: 1}
			if !ok || !reflect.DeepEqual(p, want) || im.Topics["n"].ID != [16]byte{1} || im.Topics["n"].Configs["a"] != "b" {
				t.Errorf("partition = %+v, want %+v", p, want)
			}
		}},
		{name: "create topic exists", cmd: command{Op: opCreateTopic, Topic: "t", Assignment: [][]int32{{1}}}, wantErr: kerr.TopicAlreadyExists},
		{name: "create topic unknown broker", cmd: command{Op: opCreateTopic, Topic: "n", Assignment: [][]int32{{1, 8}}}, wantErr: kerr.InvalidReplicaAssignment},
		{name: "create topic all fenced", cmd: command{Op: opCreateTopic, Topic: "n", Assignment: [][]int32{{4}}}, wantErr: kerr.InvalidReplicaAssignment},
		{name: "delete topic", cmd: command{Op: opDeleteTopic, Topic: "t"}, check: func(t *testing.T, im *Image, _ applyResult) {
			if im.Topics["t"] != nil {
				t.Error("topic t still there")
			}
		}},
		{name: "delete unknown", cmd: command{Op: opDeleteTopic, Topic: "x"}, wantErr: kerr.UnknownTopicOrPartition},
		{name: "create partitions", cmd: command{Op: opCreatePartitions, Topic: "t", Partition: 2, Assignment: [][]int32{{3, 1, 2}}}, check: func(t *testing.T, im *Image, _ applyResult) {
			if p, ok := im.Lookup("t", 2); !ok || p.Leader != 3 {
				t.Errorf("partition 2 = %+v", p)
			}
		}},
		{name: "create partitions stale count", cmd: command{Op: opCreatePartitions, Topic: "t", Partition: 1, Assignment: [][]int32{{3}}}, wantErr: kerr.InvalidPartitions},
		{name: "set configs replaces", cmd: command{Op: opSetConfigs, Topic: "t", Configs: map[string]string{"x": "y"}}, check: func(t *testing.T, im *Image, _ applyResult) {
			if !reflect.DeepEqual(im.Topics["t"].Configs, map[string]string{"x": "y"}) {
				t.Errorf("configs = %v", im.Topics["t"].Configs)
			}
		}},
		{name: "alter partition shrink", cmd: command{Op: opAlterPartition, BrokerID: 1, Topic: "t", Partition: 0, LeaderEpoch: 3, PartitionEpoch: 7, ISR: []int32{3, 1}}, check: func(t *testing.T, im *Image, res applyResult) {
			want := Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 8}
			if p, _ := im.Lookup("t", 0); !reflect.DeepEqual(p, want) || !reflect.DeepEqual(*res.Partition, want) {
				t.Errorf("partition = %+v, res %+v, want %+v", p, res.Partition, want)
			}
		}},
		{name: "alter partition stale leader epoch", cmd: command{Op: opAlterPartition, BrokerID: 1, Topic: "t", Partition: 0, LeaderEpoch: 2, PartitionEpoch: 7, ISR: []int32{1}}, wantErr: kerr.FencedLeaderEpoch},
		{name: "alter partition stale partition epoch", cmd: command{Op: opAlterPartition, BrokerID: 1, Topic: "t", Partition: 0, LeaderEpoch: 3, PartitionEpoch: 6, ISR: []int32{1}}, wantErr: kerr.InvalidUpdateVersion},
		{name: "alter partition not leader", cmd: command{Op: opAlterPartition, BrokerID: 2, Topic: "t", Partition: 0, LeaderEpoch: 3, PartitionEpoch: 7, ISR: []int32{2}}, wantErr: kerr.NotLeaderForPartition},
		{name: "alter partition without leader", cmd: command{Op: opAlterPartition, BrokerID: 1, Topic: "t", Partition: 0, LeaderEpoch: 3, PartitionEpoch: 7, ISR: []int32{2}}, wantErr: kerr.InvalidRequest},
		{name: "alter partition non replica", cmd: command{Op: opAlterPartition, BrokerID: 2, Topic: "t", Partition: 1, LeaderEpoch: 1, PartitionEpoch: 2, ISR: []int32{2, 4}}, wantErr: kerr.IneligibleReplica},
		{name: "alter partition grow", cmd: command{Op: opAlterPartition, BrokerID: 2, Topic: "t", Partition: 1, LeaderEpoch: 1, PartitionEpoch: 2, ISR: []int32{1, 2, 3}}, check: func(t *testing.T, im *Image, _ applyResult) {
			if p, _ := im.Lookup("t", 1); !slices.Equal(p.ISR, []int32{2, 3, 1}) || p.PartitionEpoch != 3 {
				t.Errorf("partition 1 = %+v", p)
			}
		}},
		{name: "alter partition unknown", cmd: command{Op: opAlterPartition, BrokerID: 1, Topic: "t", Partition: 5}, wantErr: kerr.UnknownTopicOrPartition},
		{name: "changes", cmd: command{Op: opChangePartitions, Changes: []PartitionChange{{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{2, 3}, LeaderEpoch: 4, PartitionEpoch: 8}}}, check: func(t *testing.T, im *Image, _ applyResult) {
			if p, _ := im.Lookup("t", 0); p.Leader != 2 || p.LeaderEpoch != 4 || p.PartitionEpoch != 8 || !slices.Equal(p.ISR, []int32{2, 3}) {
				t.Errorf("partition 0 = %+v", p)
			}
		}},
		{name: "changes stale epoch all or none", cmd: command{Op: opChangePartitions, Changes: []PartitionChange{
			{Topic: "t", Partition: 1, Leader: 3, ISR: []int32{3}, LeaderEpoch: 2, PartitionEpoch: 3},
			{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{2, 3}, LeaderEpoch: 4, PartitionEpoch: 7},
		}}, wantErr: kerr.InvalidUpdateVersion},
		{name: "changes leader outside isr", cmd: command{Op: opChangePartitions, Changes: []PartitionChange{{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{3}, LeaderEpoch: 4, PartitionEpoch: 8}}}, wantErr: kerr.InvalidRequest},
		{name: "producer ids", cmd: command{Op: opAllocateProducerIDs, Count: 1000}, check: func(t *testing.T, im *Image, res applyResult) {
			if res.First != 0 || im.NextProducerID != 1000 {
				t.Errorf("first %d next %d", res.First, im.NextProducerID)
			}
			im2, res2 := apply(im, &command{Op: opAllocateProducerIDs, Count: 5}, 12)
			if res2.First != 1000 || im2.NextProducerID != 1005 {
				t.Errorf("second block: first %d next %d", res2.First, im2.NextProducerID)
			}
		}},
		{name: "producer ids zero", cmd: command{Op: opAllocateProducerIDs}, wantErr: kerr.InvalidRequest},
		{name: "unknown op", cmd: command{Op: "nope"}, wantErr: kerr.InvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := baseImage()
			snapshotBefore := dumpImage(base)
			got, res := apply(base, &tc.cmd, 11)
			if dumpImage(base) != snapshotBefore {
				t.Fatalf("apply modified its input:\n%s\n%s", snapshotBefore, dumpImage(base))
			}
			if got.Version != 11 {
				t.Errorf("Version = %d, want 11", got.Version)
			}
			if tc.wantErr != nil {
				if res.Err == nil || !errors.Is(res.Err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", res.Err, tc.wantErr)
				}
				unchanged := *base
				unchanged.Version = 11
				if dumpImage(got) != dumpImage(&unchanged) {
					t.Errorf("refused command changed the image: %s", dumpImage(got))
				}
				return
			}
			if res.Err != nil {
				t.Fatalf("err = %v", res.Err)
			}
			tc.check(t, got, res)
		})
	}
}

func TestRequestErrorUnwraps(t *testing.T) {
	t.Parallel()
	err := error(refuse(kerr.TopicAlreadyExists, "topic %q already exists", "x"))
	var ke *kerr.Error
	if !errors.As(err, &ke) || ke != kerr.TopicAlreadyExists || !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("%v does not unwrap to TopicAlreadyExists", err)
	}
}
