package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
)

var verboseLogs = flag.Bool("cluster.log", false, "print cluster node logs")

// testConfigs are the broker configs of test nodes: short sessions so
// fencing happens within the test's time.
var testConfigs = map[string]string{
	cfgHeartbeatInterval: "100",
	cfgSessionTimeout:    "1500",
	cfgRebalanceInterval: "1",
}

// testCluster is n in-process nodes on 127.0.0.1.
type testCluster struct {
	t       testing.TB
	configs map[string]string
	regs    map[int32]*prometheus.Registry
	quorum  []Voter
	dirs    map[int32]string
	mu      sync.Mutex
	nodes   map[int32]*runningNode
}

type runningNode struct {
	n      *Node
	cancel context.CancelFunc
	done   chan error
}

func freePorts(t testing.TB, k int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func newTestCluster(t testing.TB, k int, configs map[string]string) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, configs: configs, regs: map[int32]*prometheus.Registry{}, dirs: map[int32]string{}, nodes: map[int32]*runningNode{}}
	for i, addr := range freePorts(t, k) {
		id := int32(i + 1)
		tc.quorum = append(tc.quorum, Voter{ID: id, Addr: addr})
		tc.dirs[id] = t.TempDir()
	}
	for _, v := range tc.quorum {
		tc.start(v.ID)
	}
	t.Cleanup(func() {
		for _, v := range tc.quorum {
			tc.stop(v.ID)
		}
	})
	return tc
}

func (tc *testCluster) start(id int32) *Node {
	tc.t.Helper()
	var addr string
	for _, v := range tc.quorum {
		if v.ID == id {
			addr = v.Addr
		}
	}
	log := slog.New(slog.DiscardHandler)
	if *verboseLogs {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var n *Node
	var err error
	reg := prometheus.NewRegistry()
	// The port was free a moment ago; a restart may race the old socket.
	for range 50 {
		n, err = New(Config{
			NodeID: id, ControllerListen: addr, Quorum: tc.quorum, Dir: tc.dirs[id],
			BrokerHost: "127.0.0.1", BrokerPort: 9000 + id, Configs: tc.configs, Logger: log, Registerer: reg,
		})
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		tc.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn := &runningNode{n: n, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- n.Run(ctx) }()
	tc.mu.Lock()
	tc.nodes[id] = rn
	tc.regs[id] = reg
	tc.mu.Unlock()
	return n
}

// stop stops node id with a controlled shutdown.
func (tc *testCluster) stop(id int32) {
	tc.mu.Lock()
	rn := tc.nodes[id]
	delete(tc.nodes, id)
	tc.mu.Unlock()
	if rn == nil {
		return
	}
	rn.cancel()
	select {
	case err := <-rn.done:
		if err != nil {
			tc.t.Errorf("node %d Run: %v", id, err)
		}
	case <-time.After(30 * time.Second):
		tc.t.Errorf("node %d Run did not return", id)
	}
}

// kill stops node id without a controlled shutdown, as a crash would.
func (tc *testCluster) kill(id int32) {
	tc.mu.Lock()
	rn := tc.nodes[id]
	tc.mu.Unlock()
	if rn != nil {
		rn.n.skipControlledShutdown.Store(true)
	}
	tc.stop(id)
}

func (tc *testCluster) node(id int32) *Node {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.nodes[id].n
}

// waitImage waits until cond holds on node id's image.
func (tc *testCluster) waitImage(id int32, what string, cond func(*Image) bool) *Image {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := tc.node(id)
	for {
		im, ch := n.Image()
		if cond(im) {
			return im
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			tc.t.Fatalf("node %d: waiting for %s: %v; image %+v", id, what, ctx.Err(), dumpImage(im))
		}
	}
}

func dumpImage(im *Image) string {
	s := fmt.Sprintf("v%d ctrl=%d brokers=%v", im.Version, im.Controller, im.Brokers)
	for _, name := range im.SortedTopicNames() {
		s += fmt.Sprintf(" %s=%+v", name, im.Topics[name].Partitions)
	}
	return s
}

func allAlive(ids ...int32) func(*Image) bool {
	return func(im *Image) bool {
		for _, id := range ids {
			if !im.Alive(id) {
				return false
			}
		}
		return im.Controller != -1
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestClusterFailover walks one three-node cluster through the life the
// brief describes: forming from fresh dirs, a topic created from a
// follower, the controller crashing, a restart, a controlled shutdown.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3, testConfigs)
	for _, id := range []int32{1, 2, 3} {
		tc.waitImage(id, "all brokers unfenced", allAlive(1, 2, 3))
	}
	im, _ := tc.node(1).Image()
	if im.ClusterID == "" {
		t.Fatalf("no cluster id: %s", dumpImage(im))
	}
	ctrl := im.Controller
	follower := int32(1)
	if follower == ctrl {
		follower = 2
	}

	// CreateTopic RF 3 from a follower is visible on all three images.
	idx, err := tc.node(follower).CreateTopic(ctxT(t, 10*time.Second), TopicSpec{Name: "orders", Partitions: 6, ReplicationFactor: 3}, false)
	if err != nil {
		t.Fatalf("CreateTopic from follower %d: %v", follower, err)
	}
	for _, id := range []int32{1, 2, 3} {
		if err := tc.node(id).WaitFor(ctxT(t, 10*time.Second), idx); err != nil {
			t.Fatalf("node %d WaitFor(%d): %v", id, idx, err)
		}
		im, _ := tc.node(id).Image()
		top := im.Topics["orders"]
		if top == nil || len(top.Partitions) != 6 {
			t.Fatalf("node %d: topic orders missing: %s", id, dumpImage(im))
		}
		for i, p := range top.Partitions {
			if len(p.Replicas) != 3 || !slices.Equal(p.ISR, p.Replicas) || p.Leader != p.Replicas[0] || p.LeaderEpoch != 0 {
				t.Fatalf("node %d: partition %d = %+v", id, i, p)
			}
		}
	}
	if _, err := tc.node(follower).CreateTopic(ctxT(t, 10*time.Second), TopicSpec{Name: "orders", Partitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second CreateTopic: %v, want TopicAlreadyExists", err)
	}

	// Kill the controller without a controlled shutdown.
	before := im
	if before.Topics["orders"] == nil {
		before, _ = tc.node(follower).Image()
	}
	tc.kill(ctrl)
	survivor := int32(1)
	for survivor == ctrl {
		survivor++
	}
	after := tc.waitImage(survivor, "a new controller fenced the dead one and moved its leaders", func(im *Image) bool {
		if im.Controller == -1 || im.Controller == ctrl || im.Alive(ctrl) {
			return false
		}
		for _, p := range im.Topics["orders"].Partitions {
			if p.Leader == ctrl || slices.Contains(p.ISR, ctrl) {
				return false
			}
		}
		return true
	})
	for i, p := range after.Topics["orders"].Partitions {
		old := before.Topics["orders"].Partitions[i]
		if old.Leader == ctrl && (p.LeaderEpoch != old.LeaderEpoch+1 || p.Leader == -1) {
			t.Errorf("partition %d: %+v after %+v: want a new leader with epoch +1", i, p, old)
		}
	}

	// A minority down: CreateTopic still works.
	if _, err := tc.node(survivor).CreateTopic(ctxT(t, 10*time.Second), TopicSpec{Name: "minority", Partitions: 2, ReplicationFactor: -1}, false); err != nil {
		t.Fatalf("CreateTopic with one node down: %v", err)
	}

	// Restart with the same dir: it rejoins and is unfenced.
	tc.start(ctrl)
	tc.waitImage(ctrl, "the restarted node rejoined", allAlive(1, 2, 3))

	// Once the data layer puts it back in the ISR (AlterPartition from each
	// leader), the preferred leader rebalance gives it its leaderships back.
	im = tc.waitImage(survivor, "restarted node unfenced", allAlive(1, 2, 3))
	for i, p := range im.Topics["orders"].Partitions {
		if slices.Contains(p.ISR, ctrl) {
			continue
		}
		isr := append(slices.Clone(p.ISR), ctrl)
		if _, err := tc.node(p.Leader).AlterPartition(ctxT(t, 10*time.Second), "orders", int32(i), p.LeaderEpoch, p.PartitionEpoch, isr); err != nil {
			t.Fatalf("re-adding %d to the ISR of partition %d: %v", ctrl, i, err)
		}
	}
	tc.waitImage(survivor, "preferred leaders restored", func(im *Image) bool {
		for _, p := range im.Topics["orders"].Partitions {
			if p.Leader != p.Replicas[0] {
				return false
			}
		}
		return true
	})

	// Controlled shutdown moves leadership promptly (well before the
	// session timeout would).
	im = tc.waitImage(survivor, "restarted node unfenced", allAlive(1, 2, 3))
	var leaderOf int32 = -1
	for _, p := range im.Topics["orders"].Partitions {
		if p.Leader != -1 {
			leaderOf = p.Leader
			break
		}
	}
	other := int32(1)
	for other == leaderOf {
		other++
	}
	tc.stop(leaderOf)
	tc.waitImage(other, "leaders moved off the stopped broker", func(im *Image) bool {
		if im.Alive(leaderOf) {
			return false
		}
		for _, p := range im.Topics["orders"].Partitions {
			if p.Leader == leaderOf {
				return false
			}
		}
		return true
	})
	tc.start(leaderOf)
	tc.waitImage(other, "all back", allAlive(1, 2, 3))
}

// TestClusterMajorityDown: with two of three nodes gone, CreateTopic fails
// with NotController once its ctx ends.
func TestClusterMajorityDown(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3, testConfigs)
	tc.waitImage(1, "all brokers unfenced", allAlive(1, 2, 3))
	tc.kill(2)
	tc.kill(3)
	_, err := tc.node(1).CreateTopic(ctxT(t, 4*time.Second), TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false)
	if !errors.Is(err, kerr.NotController) {
		t.Fatalf("CreateTopic with a majority down: %v, want NotController", err)
	}
	t.Logf("majority down: %v", err)
}

// TestClusterRequests: controlled shutdown alone fences a broker (the
// session timeout here is far longer than the test), stale AlterPartition
// is refused, producer id blocks from every node never overlap, and a node
// restarted from a Raft snapshot has the same image.
func TestClusterRequests(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3, map[string]string{cfgHeartbeatInterval: "100", cfgSessionTimeout: "600000"})
	for _, id := range []int32{1, 2, 3} {
		tc.waitImage(id, "all brokers unfenced", allAlive(1, 2, 3))
	}
	_, err := tc.node(1).CreateTopic(ctxT(t, 10*time.Second), TopicSpec{Name: "p", Partitions: 3, ReplicationFactor: 3, Configs: map[string]string{"cleanup.policy": "compact"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	// validateOnly commits nothing.
	if _, err := tc.node(2).CreateTopic(ctxT(t, 10*time.Second), TopicSpec{Name: "dry", Partitions: 1, ReplicationFactor: 1}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.node(2).CreateTopic(ctxT(t, 10*time.Second), TopicSpec{Name: "big", Partitions: 1, ReplicationFactor: 4}, false); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("RF 4 on 3 brokers: %v", err)
	}
	if _, err := tc.node(3).CreatePartitions(ctxT(t, 10*time.Second), "p", 2, false); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking partitions: %v", err)
	}
	if _, err = tc.node(3).CreatePartitions(ctxT(t, 10*time.Second), "p", 4, false); err != nil {
		t.Fatal(err)
	}
	idx, err := tc.node(2).SetTopicConfigs(ctxT(t, 10*time.Second), "p", map[string]string{"retention.ms": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.node(1).WaitFor(ctxT(t, 10*time.Second), idx); err != nil {
		t.Fatal(err)
	}
	im, _ := tc.node(1).Image()
	if im.Topics["dry"] != nil || len(im.Topics["p"].Partitions) != 4 || im.Topics["p"].Configs["retention.ms"] != "5" || im.Topics["p"].Configs["cleanup.policy"] != "" {
		t.Fatalf("image after requests: %s %v", dumpImage(im), im.Topics["p"].Configs)
	}

	// AlterPartition from the leader with current epochs, then stale.
	p := im.Topics["p"].Partitions[0]
	leader := p.Leader
	shrunk := []int32{leader}
	got, err := tc.node(leader).AlterPartition(ctxT(t, 10*time.Second), "p", 0, p.LeaderEpoch, p.PartitionEpoch, shrunk)
	if err != nil || got.PartitionEpoch != p.PartitionEpoch+1 || !slices.Equal(got.ISR, shrunk) {
		t.Fatalf("AlterPartition = %+v, %v", got, err)
	}
	if _, err := tc.node(leader).AlterPartition(ctxT(t, 10*time.Second), "p", 0, p.LeaderEpoch, p.PartitionEpoch, p.ISR); !errors.Is(err, kerr.InvalidUpdateVersion) {
		t.Fatalf("stale partition epoch: %v, want InvalidUpdateVersion", err)
	}
	if _, err := tc.node(leader).AlterPartition(ctxT(t, 10*time.Second), "p", 0, p.LeaderEpoch-1, got.PartitionEpoch, p.ISR); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("stale leader epoch: %v, want FencedLeaderEpoch", err)
	}
	notLeader := leader%3 + 1
	if _, err := tc.node(notLeader).AlterPartition(ctxT(t, 10*time.Second), "p", 0, got.LeaderEpoch, got.PartitionEpoch, p.ISR); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("from a follower: %v, want NotLeaderForPartition", err)
	}
	if _, err := tc.node(leader).AlterPartition(ctxT(t, 10*time.Second), "p", 0, got.LeaderEpoch, got.PartitionEpoch, p.ISR); err != nil {
		t.Fatalf("growing back: %v", err)
	}

	// Producer id blocks from every node, concurrently, never overlap.
	type block struct{ first, count int64 }
	var mu sync.Mutex
	var blocks []block
	var wg sync.WaitGroup
	for _, id := range []int32{1, 2, 3} {
		wg.Go(func() {
			for i := range 10 {
				count := int64(10 + i)
				first, err := tc.node(id).AllocateProducerIDs(ctxT(t, 10*time.Second), count)
				if err != nil {
					t.Errorf("node %d AllocateProducerIDs: %v", id, err)
					return
				}
				mu.Lock()
				blocks = append(blocks, block{first, count})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(blocks, func(a, b block) int { return int(a.first - b.first) })
	for i := 1; i < len(blocks); i++ {
		if blocks[i-1].first+blocks[i-1].count > blocks[i].first {
			t.Fatalf("blocks overlap: %+v and %+v", blocks[i-1], blocks[i])
		}
	}
	if len(blocks) != 30 {
		t.Fatalf("%d blocks, want 30", len(blocks))
	}

	// Exactly one node reports itself controller.
	tc.waitImage(1, "controller known", func(im *Image) bool { return im.Controller != -1 })
	controllers := 0.0
	for _, id := range []int32{1, 2, 3} {
		controllers += gauge(t, tc.regs[id], "sluice_cluster_is_controller")
	}
	if controllers != 1 {
		t.Errorf("sluice_cluster_is_controller sums to %v, want 1", controllers)
	}

	// Snapshot node 3, then a controlled shutdown: with a 10-minute
	// session timeout only the shutdown request can fence it this soon.
	if err := tc.node(3).raft.Load().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	tc.stop(3)
	tc.waitImage(1, "broker 3 fenced by its controlled shutdown, leaders moved", func(im *Image) bool {
		if im.Alive(3) {
			return false
		}
		for _, p := range im.Topics["p"].Partitions {
			if p.Leader == 3 || p.Leader == -1 || slices.Contains(p.ISR, 3) {
				return false
			}
		}
		return true
	})
	tc.start(3)
	tc.waitImage(1, "broker 3 back", allAlive(1, 2, 3))
	// The restarted node (snapshot + log) converges to node 1's image.
	tc.waitImage(3, "node 3's image equals node 1's", func(im *Image) bool {
		other, _ := tc.node(1).Image()
		a, b := *im, *other
		a.Controller, b.Controller = 0, 0
		return reflect.DeepEqual(&a, &b)
	})
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestNewRejectsNodeOutsideQuorum(t *testing.T) {
	t.Parallel()
	_, err := New(Config{NodeID: 4, ControllerListen: "127.0.0.1:0", Quorum: []Voter{{1, "127.0.0.1:1"}}, Dir: t.TempDir()})
	if !errors.Is(err, ErrNotInQuorum) {
		t.Fatalf("New = %v, want ErrNotInQuorum", err)
	}
	_, err = New(Config{NodeID: 1, ControllerListen: "127.0.0.1:0", Quorum: []Voter{{1, "127.0.0.1:1"}}, Dir: t.TempDir(),
		Configs: map[string]string{cfgSessionTimeout: "10", cfgHeartbeatInterval: "20"}})
	if err == nil {
		t.Fatal("heartbeat above session timeout accepted")
	}
}
