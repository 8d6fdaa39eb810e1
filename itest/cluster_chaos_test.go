package itest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	chaosDuration = flag.Duration("cluster.chaos", 75*time.Second, "how long the cluster chaos test's nemesis runs (the long run: e.g. 20m)")
	chaosSeed     = flag.Uint64("cluster.seed", 0, "seed of the cluster chaos test's nemesis (0: time-based, printed)")
)

// TestClusterChaos: keyed acks=all idempotent producers write unique values
// to a three-node cluster while a seeded nemesis SIGKILLs and restarts
// brokers, SIGSTOPs and SIGCONTs them, and cuts their links through fault
// proxies, one broker at a time. A consumer group commits offsets as it
// goes. At the end the checker proves: every acknowledged record is present
// exactly once and in per-key order, all replicas of every partition hold
// the same batches at the same offsets, and the last committed offsets
// survived.
func TestClusterChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("nemesis seed %d (rerun with -cluster.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	c := startClusterProxied(t, 3, true)
	const topic, partitions = "chaos", 4
	two := "2"
	c.createTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": &two})

	ledger := &ackLedger{}
	stop := make(chan struct{})
	prod := c.client(kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.RecordDeliveryTimeout(60*time.Second))
	done := produceUntil(t, prod, topic, 16, stop, ledger)

	// A group member commits what it consumed; the last successful commit
	// must survive every fault.
	lastCommit := make(chan kadm.Offsets, 1)
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		cons := c.client(kgo.ConsumerGroup("chaos-g"), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			fs := cons.PollFetches(ctx)
			cancel()
			if fs.NumRecords() == 0 {
				continue
			}
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			offs := cons.UncommittedOffsets()
			if err := cons.CommitUncommittedOffsets(ctx); err == nil {
				ko := kadm.Offsets{}
				for tp, ps := range offs {
					for p, o := range ps {
						ko.AddOffset(tp, p, o.Offset, o.Epoch)
					}
				}
				select {
				case <-lastCommit:
				default:
				}
				lastCommit <- ko
			}
			cancel()
		}
	}()

	faults := 0
	deadline := time.Now().Add(*chaosDuration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(2000+rng.IntN(3000)) * time.Millisecond)
		nd := c.nodes[rng.IntN(len(c.nodes))]
		pause := time.Duration(1500+rng.IntN(3500)) * time.Millisecond
		switch rng.IntN(3) {
		case 0:
			t.Logf("nemesis: SIGKILL node %d, restart after %s", nd.id, pause)
			c.stop(nd, syscall.SIGKILL)
			time.Sleep(pause)
			c.start(nd)
		case 1:
			t.Logf("nemesis: SIGSTOP node %d for %s", nd.id, pause)
			_ = nd.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(pause)
			_ = nd.cmd.Process.Signal(syscall.SIGCONT)
		case 2:
			t.Logf("nemesis: cut node %d's links for %s", nd.id, pause)
			nd.proxy.Cut()
			time.Sleep(pause)
			nd.proxy.Restore()
		}
		faults++
		c.waitBrokers(3) // one fault at a time: heal before the next
	}
	close(stop)
	<-done
	<-consDone
	c.waitFullISR(topic)

	recs := c.readAll(topic)
	checkAcked(t, ledger, recs)
	var want kadm.Offsets
	select {
	case want = <-lastCommit:
	default:
	}
	adm := kadm.NewClient(c.client())
	c.waitFor("committed offsets after the faults", func(ctx context.Context) string {
		got, err := adm.FetchOffsets(ctx, "chaos-g")
		if err != nil {
			return err.Error()
		}
		msg := ""
		want.Each(func(o kadm.Offset) {
			g, ok := got.Lookup(o.Topic, o.Partition)
			if !ok || g.At < o.At {
				msg = fmt.Sprintf("%s-%d committed %d, fetched %d", o.Topic, o.Partition, o.At, g.At)
			}
		})
		return msg
	})
	t.Logf("faults injected %d", faults)
	time.Sleep(3 * time.Second) // followers fetch the last batches
	c.checkReplicasEqual(topic, partitions)
}
