package itest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// testAdminCLI runs sluice's topic and group commands against the broker at
// bootstrap; it is the same scenario for Apache Kafka and for Sluice's broker.
func testAdminCLI(t *testing.T, bootstrap string) {
	topic, group := "admin-"+suffix(), "admin-g-"+suffix()
	MustSluice(t, "topic", "create", topic, "--partitions", "2", "--config", "cleanup.policy=compact", "--bootstrap", bootstrap)
	out := MustSluice(t, "topic", "describe", topic, "--bootstrap", bootstrap)
	if !strings.Contains(out, "PartitionCount: 2") || !strings.Contains(out, "cleanup.policy=compact") {
		t.Fatalf("describe:\n%s", out)
	}
	MustSluice(t, "topic", "alter", topic, "--partitions", "3", "--config", "retention.ms=3600000", "--bootstrap", bootstrap)
	out = MustSluice(t, "topic", "describe", topic, "--bootstrap", bootstrap)
	if !strings.Contains(out, "PartitionCount: 3") || !strings.Contains(out, "retention.ms=3600000") {
		t.Fatalf("describe after alter:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", got, n)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	// While the consumer is a member, a reset is refused.
	code, out := Sluice(t, "group", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute", "--bootstrap", bootstrap)
	if code != 1 || !strings.Contains(out, group) {
		t.Fatalf("reset of a live group: exit %d, want 1 naming the group:\n%s", code, out)
	}
	cl.Close()

	out = MustSluice(t, "group", "describe", group, "--bootstrap", bootstrap)
	if !strings.Contains(out, "Empty") {
		t.Fatalf("group after its consumer left:\n%s", out)
	}
	MustSluice(t, "group", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute", "--bootstrap", bootstrap)

	// A new consumer in the group re-reads everything.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cl2.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("re-read %d of %d after the reset", len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Key)] = true })
	}
	cl2.Close()

	MustSluice(t, "group", "delete", group, "--bootstrap", bootstrap)
	MustSluice(t, "topic", "delete", topic, "--bootstrap", bootstrap)
	if out := MustSluice(t, "topic", "list", "--bootstrap", bootstrap); strings.Contains(out, topic) {
		t.Fatalf("topic %s still listed after delete:\n%s", topic, out)
	}
}

func TestAdminCLIKafka(t *testing.T) {
	t.Parallel()
	testAdminCLI(t, Need(t, Kafka))
}
