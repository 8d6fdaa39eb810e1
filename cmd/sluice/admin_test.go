package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests drive the admin commands against franz-go's in-memory fake
// cluster; itest runs the same commands against Apache Kafka and our broker.

func fakeCluster(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out := runCaptured(t, args...)
	if code != exitOK {
		t.Fatalf("sluice %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func TestTopicCommands(t *testing.T) {
	t.Parallel()
	b := fakeCluster(t)
	mustRun(t, "topic", "create", "orders", "--partitions", "3", "--config", "cleanup.policy=compact", "--bootstrap", b)
	if out := mustRun(t, "topic", "list", "--bootstrap-server", b); !strings.Contains(out, "orders") {
		t.Fatalf("topic list lacks orders:\n%s", out)
	}
	out := mustRun(t, "topic", "describe", "orders", "--bootstrap", b)
	if !strings.Contains(out, "PartitionCount: 3") || !strings.Contains(out, "cleanup.policy=compact") {
		t.Fatalf("describe:\n%s", out)
	}
	mustRun(t, "topic", "alter", "orders", "--partitions", "5", "--config", "retention.ms=60000", "--bootstrap", b)
	out = mustRun(t, "topic", "describe", "orders", "--bootstrap", b)
	if !strings.Contains(out, "PartitionCount: 5") || !strings.Contains(out, "retention.ms=60000") {
		t.Fatalf("describe after alter:\n%s", out)
	}
	if code, out := runCaptured(t, "topic", "create", "orders", "--bootstrap", b); code != exitFailure || !strings.Contains(out, "orders") {
		t.Fatalf("creating an existing topic: exit %d, %q; want 1 naming the topic", code, out)
	}
	mustRun(t, "topic", "delete", "orders", "--bootstrap", b)
	if code, out := runCaptured(t, "topic", "describe", "orders", "--bootstrap", b); code != exitFailure || !strings.Contains(out, "unknown topic: orders") {
		t.Fatalf("describing a deleted topic: exit %d, %q", code, out)
	}
	if code, _ := runCaptured(t, "topic", "create", "--bootstrap", b); code != exitUsage {
		t.Fatalf("create without a name: exit %d, want %d", code, exitUsage)
	}
}

// produceAndConsume writes n records to topic and consumes them all in group,
// committing, so the group ends Empty with offsets at the end.
func produceAndConsume(t *testing.T, b, topic, group string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := kgo.NewClient(kgo.SeedBrokers(b), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		if err := p.ProduceSync(ctx, kgo.StringRecord(strings.Repeat("x", i+1))).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(b), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < n {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		got += fs.NumRecords()
	}
	if err := c.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("committing: %v", err)
	}
	c.Close() // leaves the group
}

func TestGroupResetOffsets(t *testing.T) {
	t.Parallel()
	b := fakeCluster(t)
	mustRun(t, "topic", "create", "events", "--partitions", "1", "--bootstrap", b)
	produceAndConsume(t, b, "events", "g", 5)

	out := mustRun(t, "group", "describe", "g", "--bootstrap", b)
	if !strings.Contains(out, "events") || !strings.Contains(out, " 5 ") {
		t.Fatalf("describe before reset:\n%s", out)
	}
	// Without --execute nothing changes.
	out = mustRun(t, "group", "reset-offsets", "--group", "g", "--topic", "events", "--to-earliest", "--bootstrap", b)
	if !strings.Contains(out, "Dry run") {
		t.Fatalf("plan output:\n%s", out)
	}
	if out := mustRun(t, "group", "describe", "g", "--bootstrap", b); !strings.Contains(out, "events  0          5") {
		t.Fatalf("a dry run changed offsets:\n%s", out)
	}
	tests := []struct {
		args []string
		want string // the committed offset afterwards
	}{
		{[]string{"--to-earliest"}, "0"},
		{[]string{"--to-offset", "3"}, "3"},
		{[]string{"--shift-by", "-1"}, "2"},
		{[]string{"--to-offset", "99"}, "5"}, // clamped to the end
		{[]string{"--to-datetime", "2000-01-01T00:00:00Z"}, "0"},
		{[]string{"--to-latest"}, "5"},
	}
	for _, tc := range tests {
		args := append([]string{"group", "reset-offsets", "--group", "g", "--topic", "events:0", "--execute", "--bootstrap", b}, tc.args...)
		mustRun(t, args...)
		out := mustRun(t, "group", "describe", "g", "--bootstrap", b)
		if !strings.Contains(out, "events  0          "+tc.want+" ") {
			t.Fatalf("after reset %v want committed %s:\n%s", tc.args, tc.want, out)
		}
	}
	for _, bad := range [][]string{
		{"--to-earliest", "--to-latest"},
		{},
		{"--to-earliest", "--dry-run", "--execute"},
		{"--to-datetime", "yesterday"},
	} {
		args := append([]string{"group", "reset-offsets", "--group", "g", "--topic", "events", "--bootstrap", b}, bad...)
		if code, out := runCaptured(t, args...); code != exitUsage {
			t.Errorf("reset-offsets %v: exit %d (%s), want %d", bad, code, out, exitUsage)
		}
	}
}

func TestGroupResetRefusedWhileActive(t *testing.T) {
	t.Parallel()
	b := fakeCluster(t)
	mustRun(t, "topic", "create", "live", "--partitions", "1", "--bootstrap", b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := kgo.NewClient(kgo.SeedBrokers(b), kgo.ConsumerGroup("active"), kgo.ConsumeTopics("live"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Poll in the background until the group is stable, then try the reset.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			c.PollFetches(ctx)
		}
	}()
	for {
		out := mustRun(t, "group", "list", "--bootstrap", b)
		if strings.Contains(out, "Stable") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group never became stable:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out := runCaptured(t, "group", "reset-offsets", "--group", "active", "--topic", "live", "--to-earliest", "--execute", "--bootstrap", b)
	if code != exitFailure || !strings.Contains(out, `group "active" is Stable`) {
		t.Fatalf("reset of an active group: exit %d, %q; want 1 naming the group and its state", code, out)
	}
	cancel()
	<-done
}
