package server

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lateCoordinator lets the server be built before the coordinator that
// stores through it (the broker package does the same).
type lateCoordinator struct {
	mu sync.Mutex
	c  *group.Coordinator
}

func (l *lateCoordinator) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	l.mu.Lock()
	c := l.c
	l.mu.Unlock()
	return c.Handle(ctx, req)
}

// startGroupBroker runs the server on the disk log with the real group
// coordinator persisting to __consumer_offsets through the server.
func startGroupBroker(t *testing.T, dir string) (string, func()) {
	t.Helper()
	late := &lateCoordinator{}
	s, err := New(Config{DataDir: dir, Logger: testLogger(t)}, WithGroupCoordinator(late))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = port
	gcfg, err := group.ConfigFromKafka(map[string]string{"group.initial.rebalance.delay.ms": "0"})
	if err != nil {
		t.Fatal(err)
	}
	late.mu.Lock()
	late.c = group.New(group.NewTopicStore(s), group.WithTopics(s), group.WithConfig(gcfg), group.WithNode(group.Node{ID: 1, Host: host}))
	late.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = late.c.Run(ctx) })
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-runErr; err != nil {
				t.Errorf("Run: %v", err)
			}
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// TestKgoConsumerGroup: a kgo consumer group reads a topic and commits;
// after a broker restart the committed offsets are still there, read back
// from __consumer_offsets on the disk log.
func TestKgoConsumerGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	addr, stop := startGroupBroker(t, dir)
	adm := kadm.NewClient(newClient(t, addr))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "g"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, addr, kgo.DefaultProduceTopic("g"))
	const n = 60
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("v")}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, addr, kgo.ConsumerGroup("grp"), kgo.ConsumeTopics("g"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(50*time.Millisecond))
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close() // leaves the group
	prod.Close()
	stop()

	addr2, _ := startGroupBroker(t, dir)
	adm2 := kadm.NewClient(newClient(t, addr2))
	var offsets kadm.OffsetResponses
	var err error
	// The coordinator answers COORDINATOR_LOAD_IN_PROGRESS until it has
	// replayed __consumer_offsets; kadm surfaces that as an error.
	for offsets, err = adm2.FetchOffsets(ctx, "grp"); err != nil; offsets, err = adm2.FetchOffsets(ctx, "grp") {
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	var sum int64
	offsets.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != n {
		t.Fatalf("committed offsets sum to %d after restart, want %d: %+v", sum, n, offsets)
	}
}
