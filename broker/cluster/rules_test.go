package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// imageOf builds an image with alive and fenced brokers and one topic "t"
// whose partitions are given.
func imageOf(alive, fenced []int32, configs map[string]string, parts ...Partition) *Image {
	im := emptyImage()
	for _, id := range alive {
		im.Brokers[id] = Broker{ID: id, Epoch: 1}
	}
	for _, id := range fenced {
		im.Brokers[id] = Broker{ID: id, Epoch: 1, Fenced: true}
	}
	im.Topics["t"] = &Topic{Name: "t", Configs: configs, Partitions: parts}
	return im
}

func never(*Topic) bool  { return false }
func always(*Topic) bool { return true }

func TestFenceChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		im      *Image
		fence   int32
		unclean uncleanFunc
		want    []PartitionChange
	}{
		{
			name: "leader moves to first alive ISR member in replica order", fence: 1, unclean: never,
			im:   imageOf([]int32{1, 2, 3}, nil, nil, Partition{Replicas: []int32{1, 3, 2}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 9}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 3, ISR: []int32{2, 3}, LeaderEpoch: 5, PartitionEpoch: 10}},
		},
		{
			name: "follower leaves the ISR, leader epoch kept", fence: 2, unclean: never,
			im:   imageOf([]int32{1, 2, 3}, nil, nil, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 9}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 1, ISR: []int32{1, 3}, LeaderEpoch: 4, PartitionEpoch: 10}},
		},
		{
			name: "ISR member not alive is not elected", fence: 1, unclean: never,
			im:   imageOf([]int32{1, 3}, []int32{2}, nil, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 3, ISR: []int32{2, 3}, LeaderEpoch: 1, PartitionEpoch: 1}},
		},
		{
			name: "last ISR member: offline, ISR kept", fence: 1, unclean: never,
			im:   imageOf([]int32{1, 2}, nil, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: -1, ISR: []int32{1}, LeaderEpoch: 3, PartitionEpoch: 4}},
		},
		{
			name: "unclean elects an alive replica outside the ISR", fence: 1, unclean: always,
			im:   imageOf([]int32{1, 2}, nil, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{2}, LeaderEpoch: 3, PartitionEpoch: 4}},
		},
		{
			name: "topic override enables unclean", fence: 1, unclean: uncleanFromConfigs(nil),
			im:   imageOf([]int32{1, 2}, nil, map[string]string{cfgUncleanElection: "true"}, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{2}, LeaderEpoch: 1, PartitionEpoch: 1}},
		},
		{
			name: "topic override disables the broker default", fence: 1, unclean: uncleanFromConfigs(map[string]string{cfgUncleanElection: "true"}),
			im:   imageOf([]int32{1, 2}, nil, map[string]string{cfgUncleanElection: "false"}, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: -1, ISR: []int32{1}, LeaderEpoch: 1, PartitionEpoch: 1}},
		},
		{
			name: "not a replica: nothing", fence: 3, unclean: never,
			im: imageOf([]int32{1, 2, 3}, nil, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}),
		},
		{
			name: "offline partition whose last ISR member is fenced: nothing", fence: 1, unclean: never,
			im: imageOf([]int32{1, 2}, nil, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := fenceChanges(tc.im, tc.fence, tc.unclean)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fenceChanges = %+v\nwant %+v", got, tc.want)
			}
			// The changes must apply to the image they were computed on.
			b := tc.im.Brokers[tc.fence]
			if _, res := apply(tc.im, &command{Op: opFenceBroker, BrokerID: tc.fence, BrokerEpoch: b.Epoch, Changes: got}, 99); res.Err != nil {
				t.Errorf("apply: %v", res.Err)
			}
		})
	}
}

func TestElectChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		im      *Image
		unclean uncleanFunc
		want    []PartitionChange
	}{
		{
			name: "unfenced ISR member takes the offline partition", unclean: never,
			im:   imageOf([]int32{1, 2}, nil, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: -1, LeaderEpoch: 5, PartitionEpoch: 6}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{2}, LeaderEpoch: 6, PartitionEpoch: 7}},
		},
		{
			name: "no alive ISR member stays offline", unclean: never,
			im: imageOf([]int32{1}, []int32{2}, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: -1}),
		},
		{
			name: "leader fenced behind our back gets replaced", unclean: never,
			im:   imageOf([]int32{1}, []int32{2}, nil, Partition{Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2}),
			want: []PartitionChange{{Topic: "t", Partition: 0, Leader: 1, ISR: []int32{2, 1}, LeaderEpoch: 1, PartitionEpoch: 1}},
		},
		{
			name: "alive leader untouched", unclean: always,
			im: imageOf([]int32{1, 2}, nil, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := electChanges(tc.im, tc.unclean); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("electChanges = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlaceReplicas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                      string
		brokers                   []int32
		n, rf, start, shift, from int
		want                      [][]int32
	}{
		{name: "rf3 over 3", brokers: []int32{1, 2, 3}, n: 3, rf: 3, want: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}},
		{name: "second round shifts followers", brokers: []int32{1, 2, 3, 4}, n: 8, rf: 2,
			want: [][]int32{{1, 2}, {2, 3}, {3, 4}, {4, 1}, {1, 3}, {2, 4}, {3, 1}, {4, 2}}},
		{name: "start index", brokers: []int32{1, 2, 3}, n: 2, rf: 1, start: 2, want: [][]int32{{3}, {1}}},
		{name: "single broker", brokers: []int32{7}, n: 2, rf: 1, want: [][]int32{{7}, {7}}},
		{name: "from partition 3", brokers: []int32{1, 2, 3}, n: 1, rf: 2, from: 3, want: [][]int32{{1, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := placeReplicas(tc.brokers, tc.n, tc.rf, tc.start, tc.shift, tc.from)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("placeReplicas = %v, want %v", got, tc.want)
			}
			for i, r := range got {
				seen := map[int32]bool{}
				for _, b := range r {
					if seen[b] {
						t.Errorf("partition %d: %v repeats a broker", i, r)
					}
					seen[b] = true
				}
			}
		})
	}
}

func TestPlanTopic(t *testing.T) {
	t.Parallel()
	im := imageOf([]int32{1, 2, 3, 4}, []int32{5}, nil, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	zero := func(int) int { return 0 }
	tests := []struct {
		name    string
		spec    TopicSpec
		set     settings
		wantErr *kerr.Error
		wantN   int
		wantRF  int
	}{
		{name: "defaults: 1 partition, rf min(3, alive)", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1}, set: settings{numPartitions: 1}, wantN: 1, wantRF: 3},
		{name: "broker defaults", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1}, set: settings{numPartitions: 5, defaultRF: 2}, wantN: 5, wantRF: 2},
		{name: "rf above alive", spec: TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 5}, wantErr: kerr.InvalidReplicationFactor},
		{name: "rf zero", spec: TopicSpec{Name: "a", Partitions: 1, ReplicationFactor: 0}, wantErr: kerr.InvalidReplicationFactor},
		{name: "partitions zero", spec: TopicSpec{Name: "a", Partitions: 0, ReplicationFactor: 1}, wantErr: kerr.InvalidPartitions},
		{name: "exists", spec: TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, wantErr: kerr.TopicAlreadyExists},
		{name: "bad name", spec: TopicSpec{Name: "a b", Partitions: 1, ReplicationFactor: 1}, wantErr: kerr.InvalidTopicException},
		{name: "dot name", spec: TopicSpec{Name: "..", Partitions: 1, ReplicationFactor: 1}, wantErr: kerr.InvalidTopicException},
		{name: "assignment", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{4, 5}, {5, 4}}}, wantN: 2, wantRF: 2},
		{name: "assignment uneven", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 2}, {1}}}, wantErr: kerr.InvalidReplicaAssignment},
		{name: "assignment unknown broker", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{9}}}, wantErr: kerr.InvalidReplicaAssignment},
		{name: "assignment duplicate", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 1}}}, wantErr: kerr.InvalidReplicaAssignment},
		{name: "assignment all fenced", spec: TopicSpec{Name: "a", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{5}}}, wantErr: kerr.InvalidReplicaAssignment},
		{name: "assignment with counts", spec: TopicSpec{Name: "a", Partitions: 3, ReplicationFactor: -1, Assignment: [][]int32{{1}}}, wantErr: kerr.InvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := planTopic(im, &tc.spec, tc.set, zero)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantN || len(got[0]) != tc.wantRF {
				t.Fatalf("plan = %v, want %d partitions of %d", got, tc.wantN, tc.wantRF)
			}
			for _, r := range got {
				for _, b := range r {
					if b == 5 && tc.spec.Assignment == nil {
						t.Errorf("fenced broker 5 placed: %v", got)
					}
				}
			}
		})
	}
}

func TestPlanPartitions(t *testing.T) {
	t.Parallel()
	im := imageOf([]int32{1, 2}, []int32{3}, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	zero := func(int) int { return 0 }
	if _, err := planPartitions(im, "t", 1, zero); !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("same count: %v", err)
	}
	if _, err := planPartitions(im, "x", 3, zero); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v", err)
	}
	got, err := planPartitions(im, "t", 3, zero)
	if err != nil || len(got) != 2 || len(got[0]) != 2 {
		t.Fatalf("grow to 3: %v %v", got, err)
	}
	im3 := imageOf([]int32{1}, []int32{2, 3}, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	if _, err := planPartitions(im3, "t", 2, zero); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Errorf("rf above alive: %v", err)
	}
}

func TestAlterPartitionFencedGrow(t *testing.T) {
	t.Parallel()
	im := imageOf([]int32{1}, []int32{2}, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1})
	_, res := apply(im, &command{Op: opAlterPartition, BrokerID: 1, Topic: "t", ISR: []int32{1, 2}}, 1)
	if !errors.Is(res.Err, kerr.IneligibleReplica) {
		t.Fatalf("growing with a fenced broker: %v, want IneligibleReplica", res.Err)
	}
	// Shrinking away a fenced member is fine.
	im2 := imageOf([]int32{1}, []int32{2}, nil, Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	if _, res := apply(im2, &command{Op: opAlterPartition, BrokerID: 1, Topic: "t", ISR: []int32{1}}, 1); res.Err != nil {
		t.Fatalf("shrink: %v", res.Err)
	}
}

func TestPreferredChanges(t *testing.T) {
	t.Parallel()
	im := imageOf([]int32{1, 2, 3}, []int32{4}, nil,
		Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5}, // moves back to 1
		Partition{Replicas: []int32{3, 2}, ISR: []int32{2}, Leader: 2},                                       // 3 not in ISR
		Partition{Replicas: []int32{4, 2}, ISR: []int32{4, 2}, Leader: 2},                                    // 4 fenced
		Partition{Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2},                                    // already preferred
	)
	want := []PartitionChange{{Topic: "t", Partition: 0, Leader: 1, ISR: []int32{1, 2}, LeaderEpoch: 4, PartitionEpoch: 6}}
	if got := preferredChanges(im); !reflect.DeepEqual(got, want) {
		t.Fatalf("preferredChanges = %+v, want %+v", got, want)
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		want    settings
		wantErr bool
	}{
		{name: "defaults", want: settings{heartbeat: 2 * time.Second, session: 9 * time.Second, numPartitions: 1, rebalance: 300 * time.Second}},
		{name: "all set", in: map[string]string{cfgHeartbeatInterval: "100", cfgSessionTimeout: "1000", cfgDefaultRF: "2", cfgNumPartitions: "4", cfgAutoRebalance: "false", cfgUncleanElection: "true"},
			want: settings{heartbeat: 100 * time.Millisecond, session: time.Second, defaultRF: 2, numPartitions: 4}},
		{name: "heartbeat not below session", in: map[string]string{cfgHeartbeatInterval: "9000"}, wantErr: true},
		{name: "bad number", in: map[string]string{cfgNumPartitions: "x"}, wantErr: true},
		{name: "bad bool", in: map[string]string{cfgUncleanElection: "yes"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseSettings(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("settings = %+v, want %+v", got, tc.want)
			}
		})
	}
}
