package itest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/kafkaproto"
	blog "github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/internal/vfs"
)

// clusterNode is one `sluice broker` cluster member started by a test.
type clusterNode struct {
	id         int32
	addr, ctrl string
	dir        string
	cmd        *exec.Cmd
	out        *lockedBuffer
	// proxy, when set, fronts the Kafka listener: the node advertises it,
	// so clients and the other brokers' followers reach it only through it.
	proxy *FaultProxy
}

// kafkaAddr is the address others use to reach the node.
func (nd *clusterNode) kafkaAddr() string {
	if nd.proxy != nil {
		return nd.proxy.Addr()
	}
	return nd.addr
}

// testCluster is three (or n) broker processes on 127.0.0.1 forming one
// cluster from fresh data dirs.
type testCluster struct {
	t      *testing.T
	nodes  []*clusterNode
	quorum string
	extra  []string
}

// clusterTimeouts make failure detection quick enough for tests.
var clusterTimeouts = []string{
	"--config", "broker.session.timeout.ms=3000",
	"--config", "broker.heartbeat.interval.ms=300",
	"--config", "replica.lag.time.max.ms=4000",
	"--config", "group.initial.rebalance.delay.ms=0",
}

func startCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	return startClusterProxied(t, n, false, extra...)
}

// startClusterProxied starts n nodes; with proxied, each node's Kafka
// listener sits behind a FaultProxy.
func startClusterProxied(t *testing.T, n int, proxied bool, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, extra: append(append([]string(nil), clusterTimeouts...), extra...)}
	var voters []string
	for i := 1; i <= n; i++ {
		nd := &clusterNode{id: int32(i), addr: FreeAddr(t), ctrl: FreeAddr(t), dir: filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))}
		if proxied {
			nd.proxy = StartFaultProxy(t, nd.addr)
		}
		c.nodes = append(c.nodes, nd)
		voters = append(voters, fmt.Sprintf("%d@%s", i, nd.ctrl))
	}
	c.quorum = strings.Join(voters, ",")
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if c.running(nd) {
				_ = nd.cmd.Process.Kill()
				_ = nd.cmd.Wait()
			}
			if t.Failed() {
				t.Logf("node %d output (tail):\n%s", nd.id, tail(nd.out.String(), 60))
			}
		}
	})
	for _, nd := range c.nodes {
		c.start(nd)
	}
	c.waitBrokers(n)
	return c
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (c *testCluster) running(nd *clusterNode) bool {
	return nd.cmd != nil && nd.cmd.ProcessState == nil
}

// start launches a node without waiting: a lone member cannot be ready
// before a quorum of its peers is up.
func (c *testCluster) start(nd *clusterNode) {
	c.t.Helper()
	if nd.out == nil {
		nd.out = &lockedBuffer{}
	}
	args := append([]string{"broker", "--node-id", strconv.Itoa(int(nd.id)), "--data-dir", nd.dir,
		"--listen", nd.addr, "--advertised-listener", nd.kafkaAddr(),
		"--controller-listen", nd.ctrl, "--controller-quorum", c.quorum}, c.extra...)
	nd.cmd = exec.Command(Binary(c.t), args...)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.out, nd.out
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatalf("starting node %d: %v", nd.id, err)
	}
}

// stop signals a node and waits for it to exit.
func (c *testCluster) stop(nd *clusterNode, sig syscall.Signal) {
	c.t.Helper()
	_ = nd.cmd.Process.Signal(sig)
	_ = nd.cmd.Wait()
}

func (c *testCluster) node(id int32) *clusterNode { return c.nodes[id-1] }

// seeds lists the Kafka listeners of the running nodes.
func (c *testCluster) seeds() []string {
	var s []string
	for _, nd := range c.nodes {
		if c.running(nd) {
			s = append(s, nd.kafkaAddr())
		}
	}
	return s
}

func (c *testCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it returns "" or 60 s passed.
func (c *testCluster) waitFor(what string, cond func(ctx context.Context) string) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		last = cond(ctx)
		cancel()
		if last == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("waiting for %s: %s", what, last)
}

func (c *testCluster) metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	return kadm.NewClient(cl).Metadata(ctx, topics...)
}

// waitBrokers waits until Metadata lists want live brokers.
func (c *testCluster) waitBrokers(want int) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%d brokers in Metadata", want), func(ctx context.Context) string {
		md, err := c.metadata(ctx)
		if err != nil {
			return err.Error()
		}
		if len(md.Brokers) != want {
			return fmt.Sprintf("brokers %v", md.Brokers.NodeIDs())
		}
		return ""
	})
}

// waitFullISR waits until every partition of topic has all its replicas
// in sync.
func (c *testCluster) waitFullISR(topic string) {
	c.t.Helper()
	c.waitFor("full ISR on "+topic, func(ctx context.Context) string {
		md, err := c.metadata(ctx, topic)
		if err != nil {
			return err.Error()
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			return fmt.Sprintf("topic: %v", td.Err)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || len(p.ISR) != len(p.Replicas) || p.Leader < 0 {
				return fmt.Sprintf("partition %d: leader %d replicas %v isr %v err %v", p.Partition, p.Leader, p.Replicas, p.ISR, p.Err)
			}
		}
		return ""
	})
}

// leaderOf returns the leader of one partition.
func (c *testCluster) leaderOf(topic string, partition int32) int32 {
	c.t.Helper()
	var leader int32 = -1
	c.waitFor(fmt.Sprintf("a leader for %s-%d", topic, partition), func(ctx context.Context) string {
		md, err := c.metadata(ctx, topic)
		if err != nil {
			return err.Error()
		}
		p, ok := md.Topics[topic].Partitions[partition]
		if !ok || p.Leader < 0 {
			return "no leader"
		}
		leader = p.Leader
		return ""
	})
	return leader
}

func (c *testCluster) createTopic(name string, partitions int32, rf int16, configs map[string]*string) {
	c.t.Helper()
	c.waitFor("creating "+name, func(ctx context.Context) string {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
		if err != nil {
			return err.Error()
		}
		defer cl.Close()
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, configs, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return err.Error()
		}
		return ""
	})
	c.waitFullISR(name)
}

// ackLedger records what producers were told is acknowledged.
type ackLedger struct {
	mu    sync.Mutex
	acked map[string][]string // key -> values in acknowledgement order
	n     int
}

func (l *ackLedger) add(key, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acked == nil {
		l.acked = map[string][]string{}
	}
	l.acked[key] = append(l.acked[key], value)
	l.n++
}

func (l *ackLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// produceUntil writes keyed unique values with acks=all and idempotence
// until stop is closed; one record in flight per key keeps per-key
// acknowledgement order meaningful.
func produceUntil(t *testing.T, cl *kgo.Client, topic string, keys int, stop <-chan struct{}, ledger *ackLedger) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for k := 0; k < keys; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				key := fmt.Sprintf("k%03d", k)
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					val := fmt.Sprintf("%s-%06d", key, seq)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(val)}).FirstErr()
					cancel()
					if err == nil {
						ledger.add(key, val)
					}
				}
			}(k)
		}
		wg.Wait()
	}()
	return done
}

// readAll consumes a topic from its start to its current end offsets.
func (c *testCluster) readAll(topic string) map[int32][]*kgo.Record {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		c.t.Fatalf("end offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cl := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]*kgo.Record{}
	next := map[int32]int64{}
	for {
		doneAll := true
		for p, end := range want {
			if next[p] < end {
				doneAll = false
			}
		}
		if doneAll {
			return got
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("reading %s: got %v of %v", topic, next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			next[r.Partition] = r.Offset + 1
		})
	}
}

// checkAcked proves every acknowledged value is present exactly once and
// each key's acknowledged values appear in acknowledgement order.
func checkAcked(t *testing.T, ledger *ackLedger, recs map[int32][]*kgo.Record) {
	t.Helper()
	seen := map[string]int{}
	order := map[string][]string{}
	for _, rs := range recs {
		for _, r := range rs {
			seen[string(r.Value)]++
			order[string(r.Key)] = append(order[string(r.Key)], string(r.Value))
		}
	}
	lost, dup := 0, 0
	for key, vals := range ledger.acked {
		pos := 0
		for _, v := range vals {
			switch seen[v] {
			case 0:
				lost++
				t.Errorf("acknowledged %s is missing", v)
				continue
			case 1:
			default:
				dup++
				t.Errorf("acknowledged %s appears %d times", v, seen[v])
			}
			// Per-key order: acknowledged values appear in ack order.
			found := false
			for ; pos < len(order[key]); pos++ {
				if order[key][pos] == v {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("key %s: %s out of order", key, v)
			}
		}
	}
	t.Logf("records acknowledged %d, lost %d, duplicated %d", ledger.n, lost, dup)
}

// partitionBatches reads one partition's log from a stopped node's data dir.
func partitionBatches(t *testing.T, dir, topic string, partition int32) []byte {
	t.Helper()
	l, err := blog.Open(vfs.OS{}, filepath.Join(dir, fmt.Sprintf("%s-%d", topic, partition)), blog.DefaultConfig())
	if err != nil {
		t.Fatalf("opening %s-%d in %s: %v", topic, partition, dir, err)
	}
	defer l.Close()
	var out []byte
	for off := l.StartOffset(); off < l.EndOffset(); {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("reading %s-%d at %d in %s: %v", topic, partition, off, dir, err)
		}
		next := off
		_ = kafkaproto.SplitBatches(b, func(h kafkaproto.BatchHeader, batch []byte) bool {
			out = append(out, batch...)
			next = h.BaseOffset + int64(h.LastOffsetDelta) + 1
			return true
		})
		if next == off {
			break
		}
		off = next
	}
	return out
}

// checkReplicasEqual stops every node and compares each partition's
// batches byte for byte across its replicas.
func (c *testCluster) checkReplicasEqual(topic string, partitions int32) {
	c.t.Helper()
	for _, nd := range c.nodes {
		if c.running(nd) {
			c.stop(nd, syscall.SIGTERM)
		}
	}
	for p := int32(0); p < partitions; p++ {
		var ref []byte
		var refNode int32
		for _, nd := range c.nodes {
			if _, err := os.Stat(filepath.Join(nd.dir, fmt.Sprintf("%s-%d", topic, p))); err != nil {
				continue // not a replica
			}
			b := partitionBatches(c.t, nd.dir, topic, p)
			if ref == nil {
				ref, refNode = b, nd.id
				continue
			}
			if !bytes.Equal(ref, b) {
				c.t.Errorf("%s-%d: node %d holds %d bytes, node %d holds %d bytes, not equal", topic, p, refNode, len(ref), nd.id, len(b))
			}
		}
	}
}

// TestClusterLeaderKill: keyed idempotent acks=all producers keep writing
// while the leader of a partition is SIGKILLed and restarted; every
// acknowledged record is there exactly once, in per-key order, and all
// replicas end byte for byte equal.
func TestClusterLeaderKill(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "cluster-kill"
	two := "2"
	c.createTopic(topic, 3, 3, map[string]*string{"min.insync.replicas": &two})

	ledger := &ackLedger{}
	stop := make(chan struct{})
	cl := c.client(kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	done := produceUntil(t, cl, topic, 12, stop, ledger)

	waitAcks := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for ledger.count() < n {
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("only %d of %d records acknowledged", ledger.count(), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAcks(300)
	victim := c.leaderOf(topic, 0)
	t.Logf("SIGKILL node %d, the leader of %s-0", victim, topic)
	c.stop(c.node(victim), syscall.SIGKILL)
	waitAcks(ledger.count() + 300)
	t.Logf("restarting node %d", victim)
	c.start(c.node(victim))
	c.waitBrokers(3)
	waitAcks(ledger.count() + 300)
	close(stop)
	<-done
	c.waitFullISR(topic)

	checkAcked(t, ledger, c.readAll(topic))
	time.Sleep(3 * time.Second) // followers fetch the last batches (replica.fetch.wait.max.ms is 500)
	c.checkReplicasEqual(topic, 3)
}

// TestClusterMinInsyncReplicas: with min.insync.replicas=2 one broker down
// keeps the partition writable; two down refuse acks=all writes instead of
// acknowledging what they could lose.
func TestClusterMinInsyncReplicas(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "cluster-minisr"
	two := "2"
	c.createTopic(topic, 1, 3, map[string]*string{"min.insync.replicas": &two})
	leader := c.leaderOf(topic, 0)
	var followers []int32
	for _, nd := range c.nodes {
		if nd.id != leader {
			followers = append(followers, nd.id)
		}
	}
	cl := c.client(kgo.RecordDeliveryTimeout(20 * time.Second))
	produce := func(v string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(v)}).FirstErr()
	}
	if err := produce("all-up"); err != nil {
		t.Fatalf("produce with three brokers: %v", err)
	}
	c.stop(c.node(followers[0]), syscall.SIGKILL)
	if err := produce("one-down"); err != nil {
		t.Fatalf("produce with one of three down and min.insync.replicas=2: %v", err)
	}
	c.stop(c.node(followers[1]), syscall.SIGKILL)
	// An idempotent producer retries a write of unknown outcome for ever;
	// this one gives up, so the refusal is visible.
	once := c.client(kgo.DisableIdempotentWrite(), kgo.RecordRetries(1), kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RecordDeliveryTimeout(15*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := once.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("two-down")}).FirstErr()
	cancel()
	if err == nil {
		t.Fatal("produce with two of three down and min.insync.replicas=2 was acknowledged")
	}
	t.Logf("with two brokers down the write was refused: %v", err)

	c.start(c.node(followers[0]))
	c.start(c.node(followers[1]))
	c.waitBrokers(3)
	c.waitFullISR(topic)
	recs := c.readAll(topic)
	var vals []string
	for _, r := range recs[0] {
		vals = append(vals, string(r.Value))
	}
	if len(vals) < 2 || vals[0] != "all-up" || vals[1] != "one-down" {
		t.Fatalf("partition holds %v, want all-up, one-down first", vals)
	}
}

// TestClusterGroupOffsetsSurviveCoordinatorKill: committed offsets are
// replicated with __consumer_offsets and served by the next coordinator.
func TestClusterGroupOffsetsSurviveCoordinatorKill(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "cluster-groups"
	c.createTopic(topic, 2, 3, nil)
	adm := kadm.NewClient(c.client())

	offsets := kadm.Offsets{}
	offsets.AddOffset(topic, 0, 41, -1)
	offsets.AddOffset(topic, 1, 17, -1)
	c.waitFor("committing offsets", func(ctx context.Context) string {
		resp, err := adm.CommitOffsets(ctx, "g1", offsets)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return err.Error()
		}
		return ""
	})
	var coord int32 = -1
	c.waitFor("the group coordinator", func(ctx context.Context) string {
		for _, r := range adm.FindGroupCoordinators(ctx, "g1") {
			if r.Err != nil {
				return r.Err.Error()
			}
			coord = r.NodeID
		}
		return ""
	})
	t.Logf("SIGKILL node %d, the group coordinator", coord)
	c.stop(c.node(coord), syscall.SIGKILL)

	c.waitFor("offsets from the next coordinator", func(ctx context.Context) string {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
		if err != nil {
			return err.Error()
		}
		defer cl.Close()
		got, err := kadm.NewClient(cl).FetchOffsets(ctx, "g1")
		if err != nil {
			return err.Error()
		}
		if o, _ := got.Lookup(topic, 0); o.At != 41 {
			return fmt.Sprintf("%s-0 at %d", topic, o.At)
		}
		if o, _ := got.Lookup(topic, 1); o.At != 17 {
			return fmt.Sprintf("%s-1 at %d", topic, o.At)
		}
		return ""
	})
}
