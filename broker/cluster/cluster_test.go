package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var verboseLogs = flag.Bool("cluster.log", false, "print cluster node logs")

// testConfigs are the broker configs of test nodes: short sessions so
// fencing happens within the test's time.
var testConfigs = map[string]string{
	cfgHeartbeatInterval: "100",
	cfgSessionTimeout:    "1500",
}

// testCluster is n in-process nodes on 127.0.0.1.
type testCluster struct {
	t      *testing.T
	quorum []Voter
	dirs   map[int32]string
	mu     sync.Mutex
	nodes  map[int32]*runningNode
}

type runningNode struct {
	n      *Node
	cancel context.CancelFunc
	done   chan error
}

func freePorts(t *testing.T, k int) []string {
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

func newTestCluster(t *testing.T, k int) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, dirs: map[int32]string{}, nodes: map[int32]*runningNode{}}
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
	// The port was free a moment ago; a restart may race the old socket.
	for range 50 {
		n, err = New(Config{
			NodeID: id, ControllerListen: addr, Quorum: tc.quorum, Dir: tc.dirs[id],
			BrokerHost: "127.0.0.1", BrokerPort: 9000 + id, Configs: testConfigs, Logger: log,
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
	tc := newTestCluster(t, 3)
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
	im, _ = tc.node(other).Image()
	idle := im.Version
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
	_ = idle
	tc.start(leaderOf)
	tc.waitImage(other, "all back", allAlive(1, 2, 3))
}

// TestClusterMajorityDown: with two of three nodes gone, CreateTopic fails
// with NotController once its ctx ends.
func TestClusterMajorityDown(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3)
	tc.waitImage(1, "all brokers unfenced", allAlive(1, 2, 3))
	tc.kill(2)
	tc.kill(3)
	_, err := tc.node(1).CreateTopic(ctxT(t, 4*time.Second), TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false)
	if !errors.Is(err, kerr.NotController) {
		t.Fatalf("CreateTopic with a majority down: %v, want NotController", err)
	}
	t.Logf("majority down: %v", err)
}
