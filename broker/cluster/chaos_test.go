package cluster

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	chaosFor  = flag.Duration("cluster.chaos", 0, "run TestClusterChaos for this long (0: a few rounds)")
	chaosSeed = flag.Uint64("cluster.seed", 0, "seed for TestClusterChaos (0: time)")
)

// checkImage returns the first broken invariant of im.
func checkImage(im *Image) error {
	for _, name := range im.SortedTopicNames() {
		for i, p := range im.Topics[name].Partitions {
			if len(p.ISR) == 0 {
				return fmt.Errorf("%s-%d: empty ISR %+v", name, i, p)
			}
			for j, r := range p.ISR {
				if !slices.Contains(p.Replicas, r) || slices.Contains(p.ISR[:j], r) {
					return fmt.Errorf("%s-%d: ISR %v not a set within replicas %v", name, i, p.ISR, p.Replicas)
				}
			}
			if p.Leader != -1 && !slices.Contains(p.ISR, p.Leader) {
				return fmt.Errorf("%s-%d: leader %d outside ISR %v", name, i, p.Leader, p.ISR)
			}
			if p.Leader != -1 && !im.Alive(p.Leader) {
				// Allowed briefly (the controller has not fenced yet), but a
				// fenced leader must never stay: checked by the caller.
				continue
			}
		}
	}
	return nil
}

// epochWatch checks that leader and partition epochs never go backwards in
// the images one node publishes.
type epochWatch map[string]Partition

func (w epochWatch) observe(im *Image) error {
	for _, name := range im.SortedTopicNames() {
		for i, p := range im.Topics[name].Partitions {
			key := fmt.Sprintf("%s/%x/%d", name, im.Topics[name].ID, i)
			if old, ok := w[key]; ok {
				if p.LeaderEpoch < old.LeaderEpoch || p.PartitionEpoch < old.PartitionEpoch {
					return fmt.Errorf("%s: epochs went back: %+v after %+v", key, p, old)
				}
				if p.PartitionEpoch == old.PartitionEpoch && (p.Leader != old.Leader || !slices.Equal(p.ISR, old.ISR)) {
					return fmt.Errorf("%s: changed without a partition epoch bump: %+v after %+v", key, p, old)
				}
				if p.Leader != old.Leader && p.LeaderEpoch == old.LeaderEpoch {
					return fmt.Errorf("%s: new leader without a leader epoch bump: %+v after %+v", key, p, old)
				}
			}
			w[key] = p
		}
	}
	return nil
}

// TestClusterChaos kills (with or without controlled shutdown) and
// restarts random nodes while topics are created and ISRs altered, and
// checks every image each node publishes: ISR within replicas, leader in
// ISR, epochs never going back, every change bumping its epoch; at the end
// all nodes converge to the same image with every partition led. A few
// rounds by default; -cluster.chaos=2m runs longer, -cluster.seed repeats.
func TestClusterChaos(t *testing.T) {
	t.Parallel()
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-cluster.seed to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	tc := newTestCluster(t, 3, testConfigs)
	for _, id := range []int32{1, 2, 3} {
		tc.waitImage(id, "all brokers unfenced", allAlive(1, 2, 3))
	}

	// One observer goroutine per node incarnation checks every image.
	stopWatch := make(chan struct{})
	watchErr := make(chan error, 16)
	var watchers []chan struct{}
	watch := func(n *Node) {
		done := make(chan struct{})
		watchers = append(watchers, done)
		go func() {
			defer close(done)
			w := epochWatch{}
			var last uint64
			for {
				im, ch := n.Image()
				if im.Version < last {
					watchErr <- fmt.Errorf("version went back: %d after %d", im.Version, last)
					return
				}
				last = im.Version
				if err := checkImage(im); err == nil {
					err = w.observe(im)
					if err != nil {
						watchErr <- err
						return
					}
				} else {
					watchErr <- err
					return
				}
				select {
				case <-ch:
				case <-stopWatch:
					return
				}
			}
		}()
	}
	for _, id := range []int32{1, 2, 3} {
		watch(tc.node(id))
	}

	rounds := 3
	deadline := time.Now().Add(*chaosFor)
	for round := 0; round < rounds || time.Now().Before(deadline); round++ {
		victim := int32(rng.IntN(3) + 1)
		crash := rng.IntN(2) == 0
		t.Logf("round %d: %s node %d", round, map[bool]string{true: "crash", false: "stop"}[crash], victim)
		if crash {
			tc.kill(victim)
		} else {
			tc.stop(victim)
		}
		survivor := victim%3 + 1
		name := fmt.Sprintf("t%d", round)
		if _, err := tc.node(survivor).CreateTopic(ctxT(t, 20*time.Second), TopicSpec{Name: name, Partitions: int32(rng.IntN(4) + 1), ReplicationFactor: 2}, false); err != nil &&
			!errors.Is(err, kerr.InvalidReplicationFactor) { // the victim may still count as alive, or not
			t.Fatalf("round %d: CreateTopic: %v", round, err)
		}
		tc.start(victim)
		watch(tc.node(victim))
		// Wait for the new incarnation, not a still-unfenced old one.
		tc.waitImage(victim, "restarted node serving", tc.node(victim).Serving)
		epoch := tc.node(victim).BrokerEpoch()
		for _, id := range []int32{1, 2, 3} {
			tc.waitImage(id, "all brokers back", func(im *Image) bool {
				return allAlive(1, 2, 3)(im) && im.Brokers[victim].Epoch == epoch
			})
		}
		// Put every alive replica back in the ISR, as the data layer
		// would once caught up.
		im, _ := tc.node(survivor).Image()
		for _, tn := range im.SortedTopicNames() {
			for i, p := range im.Topics[tn].Partitions {
				if p.Leader == -1 || len(p.ISR) == len(p.Replicas) {
					continue
				}
				_, err := tc.node(p.Leader).AlterPartition(ctxT(t, 20*time.Second), tn, int32(i), p.LeaderEpoch, p.PartitionEpoch, p.Replicas)
				// Refusals a data layer retries: the partition moved on, or a
				// replica was fenced again meanwhile (say a heartbeat missed
				// its session on a loaded machine).
				if err != nil && !errors.Is(err, kerr.FencedLeaderEpoch) && !errors.Is(err, kerr.InvalidUpdateVersion) &&
					!errors.Is(err, kerr.IneligibleReplica) && !errors.Is(err, kerr.NotLeaderForPartition) {
					t.Fatalf("round %d: AlterPartition %s-%d: %v", round, tn, i, err)
				}
			}
		}
		select {
		case err := <-watchErr:
			t.Fatalf("round %d: %v", round, err)
		default:
		}
	}
	// Converged: same image everywhere, every partition led by an alive broker.
	final := tc.waitImage(1, "every partition led", func(im *Image) bool {
		for _, tn := range im.SortedTopicNames() {
			for _, p := range im.Topics[tn].Partitions {
				if p.Leader == -1 || !im.Alive(p.Leader) {
					return false
				}
			}
		}
		return true
	})
	for _, id := range []int32{2, 3} {
		tc.waitImage(id, "same image as node 1", func(im *Image) bool {
			return im.Version >= final.Version
		})
	}
	close(stopWatch)
	for _, w := range watchers {
		<-w
	}
	select {
	case err := <-watchErr:
		t.Fatal(err)
	default:
	}
}
