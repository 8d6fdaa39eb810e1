package group_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func commitErr(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestFranzGoConsumerGroup runs real franz-go consumers (classic group
// protocol, manual commits) and kadm against the coordinator over the wire.
// It waits for conditions, never asserts on elapsed time.
func TestFranzGoConsumerGroup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	store := &group.MemStore{}
	cfg := group.DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = time.Second

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	node := group.Node{ID: 1, Host: "127.0.0.1", Port: int32(addr.Port)}
	runCoordinator := func() (*group.Coordinator, func()) {
		c := group.New(store, group.WithConfig(cfg), group.WithNode(node), group.WithTopics(wireTopics{}))
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(cctx) }()
		<-c.Loaded()
		return c, func() {
			ccancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	c, stopC := runCoordinator()
	b := startWire(t, c, ln, wirePartitions)

	consumer := func(name string) (*kgo.Client, func()) {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(addr.String()),
			kgo.ClientID(name),
			kgo.ConsumerGroup("cg"),
			kgo.ConsumeTopics("t"),
			kgo.DisableAutoCommit(),
			kgo.SessionTimeout(6*time.Second),
			kgo.HeartbeatInterval(200*time.Millisecond),
			kgo.RebalanceTimeout(10*time.Second),
			kgo.FetchMaxWait(100*time.Millisecond),
		)
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for pctx.Err() == nil {
				cl.PollFetches(pctx)
			}
		}()
		return cl, func() {
			pcancel()
			<-done
			cl.Close() // leaves the group
		}
	}
	// waitFor polls the coordinator's view until cond holds.
	waitFor := func(what string, cond func(group.Description) bool) group.Description {
		t.Helper()
		for {
			d, err := c.Describe("cg")
			if err == nil && cond(d) {
				return d
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: last %+v %v", what, d, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	owned := func(d group.Description) (n int) {
		for _, m := range d.Members {
			for _, tp := range m.Partitions {
				n += len(tp.Partitions)
			}
		}
		return n
	}

	a, closeA := consumer("a")
	d := waitFor("a alone, stable", func(d group.Description) bool {
		return d.State == group.StateStable && len(d.Members) == 1 && owned(d) == 4
	})
	if d.ProtocolType != "consumer" || d.Members[0].ClientID != "a" {
		t.Fatalf("group: %+v", d)
	}
	bcl, closeB := consumer("b")
	d = waitFor("a and b, stable", func(d group.Description) bool {
		return d.State == group.StateStable && len(d.Members) == 2 && owned(d) == 4 &&
			len(d.Members[0].Partitions) == 1 && len(d.Members[1].Partitions) == 1 &&
			len(d.Members[0].Partitions[0].Partitions) == 2
	})
	gen := d.Generation

	// Manual commits from both members of the current generation.
	waitCommit := func(cl *kgo.Client, partition int32, at int64) {
		t.Helper()
		for {
			var cerr error
			cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"t": {partition: {Epoch: -1, Offset: at}}},
				func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
					cerr = err
					if err == nil {
						cerr = commitErr(resp)
					}
				})
			if cerr == nil {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("commit: %v", cerr)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitCommit(a, 0, 11)
	waitCommit(bcl, 3, 33)

	adm := kadm.NewClient(a)
	offs, err := adm.FetchOffsets(ctx, "cg")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("t", 0); o.At != 11 {
		t.Fatalf("fetched offset t/0 = %+v", o)
	}
	if o, _ := offs.Lookup("t", 3); o.At != 33 {
		t.Fatalf("fetched offset t/3 = %+v", o)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil || len(listed) != 1 || listed["cg"].State != "Stable" {
		t.Fatalf("list groups: %+v %v", listed, err)
	}
	described, err := adm.DescribeGroups(ctx, "cg")
	if err != nil || described["cg"].State != "Stable" || len(described["cg"].Members) != 2 {
		t.Fatalf("describe groups: %+v %v", described, err)
	}

	// b leaves: a takes every partition in a later generation.
	closeB()
	waitFor("a alone again", func(d group.Description) bool {
		return d.State == group.StateStable && len(d.Members) == 1 && owned(d) == 4 && d.Generation > gen
	})
	closeA()
	waitFor("empty", func(d group.Description) bool { return d.State == group.StateEmpty })

	// Restart the coordinator over the same store: the offsets are back.
	b.close()
	stopC()
	ln2, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c, stopC = runCoordinator()
	defer stopC()
	b = startWire(t, c, ln2, wirePartitions)
	defer b.close()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm = kadm.NewClient(admCl)
	offs, err = adm.FetchOffsets(ctx, "cg")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("t", 3); o.At != 33 {
		t.Fatalf("after restart t/3 = %+v", o)
	}
	// An admin reset of an Empty group (generation -1 commit), then delete.
	resetTo := kadm.Offsets{}
	resetTo.Add(kadm.Offset{Topic: "t", Partition: 1, At: 7, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "cg", resetTo); err != nil || r.Error() != nil {
		t.Fatalf("reset: %v %v", err, r.Error())
	}
	if del, err := adm.DeleteGroups(ctx, "cg"); err != nil || del["cg"].Err != nil {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := c.Describe("cg"); err == nil {
		t.Fatal("group still there after delete")
	}
}

// TestFranzGoStaticMember: a franz-go consumer with group.instance.id
// restarts within its session and gets its partitions back without a new
// generation (KIP-345), through the wire front end.
func TestFranzGoStaticMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg := group.DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	c := group.New(&group.MemStore{}, group.WithConfig(cfg), group.WithTopics(wireTopics{}),
		group.WithNode(group.Node{ID: 1, Host: "127.0.0.1", Port: int32(addr.Port)}))
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	defer func() { ccancel(); <-done }()
	<-c.Loaded()
	b := startWire(t, c, ln, wirePartitions)
	defer b.close()

	consumer := func(instance string) func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr.String()), kgo.ClientID(instance),
			kgo.ConsumerGroup("static"), kgo.ConsumeTopics("t"), kgo.InstanceID(instance),
			kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
			kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithCancel(ctx)
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			for pctx.Err() == nil {
				cl.PollFetches(pctx)
			}
		}()
		return func() { pcancel(); <-polled; cl.Close() } // static: no LeaveGroup
	}
	waitFor := func(what string, cond func(group.Description) bool) group.Description {
		t.Helper()
		for {
			d, err := c.Describe("static")
			if err == nil && cond(d) {
				return d
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: last %+v %v", what, d, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	stops := map[string]func(){"a": consumer("a"), "b": consumer("b")}
	before := waitFor("two static members", func(d group.Description) bool {
		return d.State == group.StateStable && len(d.Members) == 2 && len(d.Members[0].Partitions) == 1 && len(d.Members[1].Partitions) == 1
	})
	// Restart the follower: a restarted static *leader* is told to skip
	// assignment (KIP-814), and franz-go then rebalances on purpose when its
	// own plan differs from the stored one, against Kafka too.
	follower := "a"
	for _, m := range before.Members {
		if m.MemberID == before.Leader && m.InstanceID == "a" {
			follower = "b"
		}
	}
	stops[follower]() // static: it does not leave
	if d, _ := c.Describe("static"); len(d.Members) != 2 {
		t.Fatalf("static member left on close: %+v", d)
	}
	stops[follower] = consumer(follower)
	after := waitFor("the follower back with a new member id", func(d group.Description) bool {
		for _, m := range d.Members {
			if m.InstanceID == follower {
				for _, o := range before.Members {
					if o.InstanceID == follower && o.MemberID != m.MemberID {
						return d.State == group.StateStable
					}
				}
			}
		}
		return false
	})
	if after.Generation != before.Generation {
		t.Fatalf("generation %d -> %d: a static restart rebalanced", before.Generation, after.Generation)
	}
	stops["a"]()
	stops["b"]()
}
