package cluster

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestSingleNodeLeavesNoGoroutines runs a one-voter quorum through a
// topic creation and a stop, then checks Run left no goroutine behind and
// the port is free again. It is not parallel: it counts goroutines.
func TestSingleNodeLeavesNoGoroutines(t *testing.T) {
	addr := freePorts(t, 1)[0]
	dir := t.TempDir()
	before := runtime.NumGoroutine()
	for round := range 2 { // the second round restarts from the first's state
		n, err := New(Config{NodeID: 1, ControllerListen: addr, Quorum: []Voter{{1, addr}}, Dir: dir, Configs: testConfigs})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		// After a restart the broker is fenced until its first heartbeat.
		for im, ch := n.Image(); !n.Serving(im); im, ch = n.Image() {
			select {
			case <-ch:
			case <-time.After(20 * time.Second):
				t.Fatalf("round %d: broker 1 never unfenced: %s", round, dumpImage(im))
			}
		}
		name := []string{"a", "b"}[round]
		idx, err := n.CreateTopic(ctxT(t, 20*time.Second), TopicSpec{Name: name, Partitions: 2, ReplicationFactor: -1}, false)
		if err != nil {
			t.Fatalf("round %d: CreateTopic: %v", round, err)
		}
		if err := n.WaitFor(ctxT(t, 5*time.Second), idx); err != nil {
			t.Fatal(err)
		}
		im, _ := n.Image()
		if len(im.Topics) != round+1 || im.Controller != 1 {
			t.Fatalf("round %d: %s", round, dumpImage(im))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if _, err := n.CreateTopic(context.Background(), TopicSpec{Name: "late"}, false); !errors.Is(err, ErrClosed) {
			t.Fatalf("request after Run: %v, want ErrClosed", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestCloseWithoutRun(t *testing.T) {
	t.Parallel()
	addr := freePorts(t, 1)[0]
	n, err := New(Config{NodeID: 1, ControllerListen: addr, Quorum: []Voter{{1, addr}}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Run(context.Background()); err == nil {
		t.Fatal("Run after Close succeeded")
	}
	again, err := New(Config{NodeID: 1, ControllerListen: addr, Quorum: []Voter{{1, addr}}, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("port not released by Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}
