package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/cluster"
	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafkaproto"
)

// fakeImages is a metadata source whose images the test sets.
type fakeImages struct {
	mu      sync.Mutex
	im      *cluster.Image
	changed chan struct{}
}

func newFakeImages() *fakeImages {
	return &fakeImages{im: &cluster.Image{Brokers: map[int32]cluster.Broker{}, Topics: map[string]*cluster.Topic{}}, changed: make(chan struct{})}
}

func (f *fakeImages) Image() (*cluster.Image, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.im, f.changed
}

// setLeader publishes an image where broker leader (of 1, 2) leads
// __consumer_offsets-0 at epoch.
func (f *fakeImages) setLeader(leader, epoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.im = &cluster.Image{
		Version: f.im.Version + 1,
		Brokers: map[int32]cluster.Broker{
			1: {ID: 1, Host: "h1", Port: 1001},
			2: {ID: 2, Host: "h2", Port: 1002},
		},
		Topics: map[string]*cluster.Topic{group.OffsetsTopic: {
			Name:       group.OffsetsTopic,
			Partitions: []cluster.Partition{{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: leader, LeaderEpoch: epoch}},
		}},
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// memTopicLog is an in-memory group.TopicLog: one partition of records,
// appendable only while broker self leads it in meta's image (as the
// server refuses appends on a partition it does not lead).
type memTopicLog struct {
	meta    *fakeImages
	self    int32
	mu      sync.Mutex
	recs    []kafkaproto.Record
	ensured int
}

func (m *memTopicLog) EnsureInternalTopic(string, int32, map[string]string) error {
	m.mu.Lock()
	m.ensured++
	m.mu.Unlock()
	return nil
}

func (m *memTopicLog) AppendRecords(_ context.Context, _ string, _ int32, recs []kafkaproto.Record) error {
	im, _ := m.meta.Image()
	if p, ok := im.Lookup(group.OffsetsTopic, 0); !ok || p.Leader != m.self {
		return kerr.NotLeaderForPartition
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.recs = append(m.recs, kafkaproto.Record{Key: append([]byte(nil), r.Key...), Value: append([]byte(nil), r.Value...)})
	}
	return nil
}

func (m *memTopicLog) ScanRecords(_ context.Context, _ string, _ int32, fn func(int64, kafkaproto.Record) error) error {
	m.mu.Lock()
	recs := append([]kafkaproto.Record(nil), m.recs...)
	m.mu.Unlock()
	for i, r := range recs {
		if err := fn(int64(i), r); err != nil {
			return err
		}
	}
	return nil
}

func commitReq(offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation, req.MemberID = 8, "g", -1, ""
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchReq() *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group = 7, "g"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	return req
}

// eventually retries fn until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := fn()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterGroupsFollowTheOffsetsLeader(t *testing.T) {
	t.Parallel()
	meta := newFakeImages()
	store := &memTopicLog{meta: meta, self: 1}
	g := newClusterGroups(meta, 1, store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	find := func() *kmsg.FindCoordinatorResponse {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKey = 3, "g"
		resp, err := g.Handle(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FindCoordinatorResponse)
	}
	if r := find(); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator with no offsets topic: code %d, want COORDINATOR_NOT_AVAILABLE", r.ErrorCode)
	}

	commit := func(off int64) int16 {
		resp, err := g.Handle(ctx, commitReq(off))
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	fetched := func() (int64, int16) {
		resp, err := g.Handle(ctx, fetchReq())
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.OffsetFetchResponse)
		if r.ErrorCode != 0 {
			return -1, r.ErrorCode
		}
		return r.Topics[0].Partitions[0].Offset, r.Topics[0].Partitions[0].ErrorCode
	}

	// Broker 2 leads: we are not the coordinator.
	meta.setLeader(2, 0)
	if r := find(); r.ErrorCode != 0 || r.NodeID != 2 || r.Host != "h2" || r.Port != 1002 {
		t.Fatalf("FindCoordinator = node %d %s:%d code %d, want node 2 h2:1002", r.NodeID, r.Host, r.Port, r.ErrorCode)
	}
	if code := commit(5); code != kerr.NotCoordinator.Code {
		t.Fatalf("commit on a non-leader: code %d, want NOT_COORDINATOR", code)
	}

	// We become the leader: commits are served and stored.
	meta.setLeader(1, 1)
	eventually(t, "commit once leading", func() string {
		if code := commit(7); code != 0 {
			return kerr.ErrorForCode(code).Error()
		}
		return ""
	})
	if off, code := fetched(); off != 7 || code != 0 {
		t.Fatalf("fetched offset %d code %d, want 7", off, code)
	}

	// Leadership moves away, then back at a new epoch: the fresh
	// coordinator replays what the old one stored.
	meta.setLeader(2, 2)
	eventually(t, "NOT_COORDINATOR after losing leadership", func() string {
		if code := commit(9); code != kerr.NotCoordinator.Code {
			return "still coordinating"
		}
		return ""
	})
	meta.setLeader(1, 3)
	eventually(t, "offsets replayed by the new coordinator", func() string {
		off, code := fetched()
		if code != 0 || off != 7 {
			return fmt.Sprintf("offset %d code %d", off, code)
		}
		return ""
	})
}

// TestOffsetsTopicWaitsForReplicas: __consumer_offsets is not created
// while fewer brokers are alive than it should have replicas.
func TestOffsetsTopicWaitsForReplicas(t *testing.T) {
	t.Parallel()
	meta := newFakeImages()
	meta.im = &cluster.Image{Brokers: map[int32]cluster.Broker{1: {ID: 1, Host: "h1", Port: 1}}, Topics: map[string]*cluster.Topic{}}
	store := &memTopicLog{meta: meta, self: 1}
	g := newClusterGroups(meta, 1, store, slog.New(slog.DiscardHandler), nil)
	g.replicas = 3
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKey = 3, "g"
	resp, err := g.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.FindCoordinatorResponse).ErrorCode; code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("code %d, want COORDINATOR_NOT_AVAILABLE", code)
	}
	if store.ensured != 0 {
		t.Fatalf("__consumer_offsets created with 1 of 3 brokers alive")
	}
	meta.im = &cluster.Image{Brokers: map[int32]cluster.Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}}, Topics: map[string]*cluster.Topic{}}
	if _, err := g.Handle(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if store.ensured != 1 {
		t.Fatalf("__consumer_offsets not created with 3 brokers alive (ensured %d)", store.ensured)
	}
}
