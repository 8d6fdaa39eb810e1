package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The compatibility suite: real third-party Kafka clients and tools, each
// producing keyed records with headers and consuming them back in a consumer
// group. It runs against Apache Kafka (proving the suite) and against the
// Sluice broker (proving the broker).

// sent is one produced record and the offset the broker acknowledged.
type sent struct {
	key, value string
	header     string
	partition  int32
	offset     int64
}

// got is one consumed record.
type got struct {
	key, value string
	header     string
	partition  int32
	offset     int64
}

const compatPartitions = 3

func compatRecords(n, keys int) []sent {
	out := make([]sent, n)
	for i := range out {
		out[i] = sent{key: fmt.Sprintf("key-%d", i%keys), value: fmt.Sprintf("value-%04d", i), header: strconv.Itoa(i)}
	}
	return out
}

func newAdmin(t *testing.T, bootstrap string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
}

// checkConsumed asserts that want (as acknowledged) and have (as consumed)
// hold the same records at the same offsets, and that each partition's
// offsets are contiguous and each key's values arrive in produce order.
func checkConsumed(t *testing.T, want []sent, have []got) {
	t.Helper()
	if len(have) != len(want) {
		t.Fatalf("consumed %d records, produced %d", len(have), len(want))
	}
	byPos := map[[2]int64]sent{}
	for _, s := range want {
		byPos[[2]int64{int64(s.partition), s.offset}] = s
	}
	next := map[int32]int64{}
	lastByKey := map[string]string{}
	for _, g := range have {
		s, ok := byPos[[2]int64{int64(g.partition), g.offset}]
		if !ok {
			t.Fatalf("consumed %s/%s at %d@%d, which no produce acknowledged", g.key, g.value, g.partition, g.offset)
		}
		if g.key != s.key || g.value != s.value || g.header != s.header {
			t.Fatalf("at %d@%d: consumed key=%s value=%s header=%s; produced key=%s value=%s header=%s",
				g.partition, g.offset, g.key, g.value, g.header, s.key, s.value, s.header)
		}
		if g.offset != next[g.partition] {
			t.Fatalf("partition %d: offset %d follows %d", g.partition, g.offset, next[g.partition]-1)
		}
		next[g.partition] = g.offset + 1
		if prev, ok := lastByKey[g.key]; ok && prev >= g.value {
			t.Fatalf("key %s: %s consumed after %s", g.key, g.value, prev)
		}
		lastByKey[g.key] = g.value
	}
}

// sortConsumed orders records by partition and offset (consumers interleave
// partitions arbitrarily).
func sortConsumed(have []got) {
	slices.SortFunc(have, func(a, b got) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.offset - b.offset)
	})
}

// checkCommitted asserts group has committed the end offset of every
// partition of topic.
func checkCommitted(t *testing.T, adm *kadm.Client, group, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At != o.Offset {
			t.Errorf("group %s committed %v on %s[%d], end offset %d", group, c.At, topic, o.Partition, o.Offset)
		}
	})
}

func testFranzGo(t *testing.T, bootstrap string) compatResult {
	topic, group := "compat-franz-"+suffix(), "compat-franz-g-"+suffix()
	adm := newAdmin(t, bootstrap)
	createTopic(t, adm, topic, compatPartitions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))) // idempotent, acks=all by default
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := compatRecords(300, 40)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var produceErr error
	for i := range want {
		wg.Add(1)
		r := &kgo.Record{Key: []byte(want[i].key), Value: []byte(want[i].value),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(want[i].header)}}}
		p.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				produceErr = err
				return
			}
			want[i].partition, want[i].offset = r.Partition, r.Offset
		})
	}
	wg.Wait()
	if produceErr != nil {
		t.Fatalf("producing: %v", produceErr)
	}

	c, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	var have []got
	for len(have) < len(want) {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(have), len(want))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			h := ""
			if len(r.Headers) == 1 && r.Headers[0].Key == "seq" {
				h = string(r.Headers[0].Value)
			}
			have = append(have, got{string(r.Key), string(r.Value), h, r.Partition, r.Offset})
		})
		if err := c.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("committing: %v", err)
		}
	}
	c.Close()
	sortConsumed(have)
	checkConsumed(t, want, have)
	checkCommitted(t, adm, group, topic)
	return compatResult{topic, group, want}
}

func testSarama(t *testing.T, bootstrap string) compatResult {
	topic, group := "compat-sarama-"+suffix(), "compat-sarama-g-"+suffix()
	adm := newAdmin(t, bootstrap)
	createTopic(t, adm, topic, compatPartitions)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	prod, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	want := compatRecords(120, 25)
	for i := range want {
		part, off, err := prod.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(want[i].key), Value: sarama.StringEncoder(want[i].value),
			Headers: []sarama.RecordHeader{{Key: []byte("seq"), Value: []byte(want[i].header)}},
		})
		if err != nil {
			t.Fatalf("sarama produce: %v", err)
		}
		want[i].partition, want[i].offset = part, off
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}

	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &saramaHandler{want: len(want), done: cancel}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			t.Fatalf("sarama consume: %v", err)
		}
	}
	if err := cg.Close(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	have := h.have
	h.mu.Unlock()
	sortConsumed(have)
	checkConsumed(t, want, have)
	checkCommitted(t, adm, group, topic)
	return compatResult{topic, group, want}
}

type saramaHandler struct {
	want int
	done func()
	mu   sync.Mutex
	have []got
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		hdr := ""
		if len(m.Headers) == 1 && string(m.Headers[0].Key) == "seq" {
			hdr = string(m.Headers[0].Value)
		}
		sess.MarkMessage(m, "")
		h.mu.Lock()
		h.have = append(h.have, got{string(m.Key), string(m.Value), hdr, m.Partition, m.Offset})
		n := len(h.have)
		h.mu.Unlock()
		if n >= h.want {
			sess.Commit() // synchronous: the offsets are committed before we stop
			h.done()
		}
	}
	return nil
}

func testKafkaGo(t *testing.T, bootstrap string) compatResult {
	topic, group := "compat-kafkago-"+suffix(), "compat-kafkago-g-"+suffix()
	adm := newAdmin(t, bootstrap)
	createTopic(t, adm, topic, compatPartitions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &kafkago.Writer{Addr: kafkago.TCP(bootstrap), Topic: topic, Balancer: &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond}
	want := compatRecords(90, 20)
	msgs := make([]kafkago.Message, len(want))
	for i, s := range want {
		msgs[i] = kafkago.Message{Key: []byte(s.key), Value: []byte(s.value),
			Headers: []kafkago.Header{{Key: "seq", Value: []byte(s.header)}}}
	}
	// One record per call keeps per-key order without relying on batch order.
	for i := range msgs {
		if err := w.WriteMessages(ctx, msgs[i]); err != nil {
			t.Fatalf("kafka-go write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{bootstrap}, GroupID: group, Topic: topic,
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond})
	var have []got
	for len(have) < len(want) {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go fetch after %d records: %v", len(have), err)
		}
		hdr := ""
		if len(m.Headers) == 1 && m.Headers[0].Key == "seq" {
			hdr = string(m.Headers[0].Value)
		}
		have = append(have, got{string(m.Key), string(m.Value), hdr, int32(m.Partition), m.Offset})
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("kafka-go commit: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// kafka-go's writer does not return offsets: take them from what the
	// broker served, and check per-key order and contiguity.
	sortConsumed(have)
	bySeq := map[string]got{}
	for _, g := range have {
		bySeq[g.header] = g
	}
	for i := range want {
		g, ok := bySeq[want[i].header]
		if !ok {
			t.Fatalf("record %s (%s) never consumed", want[i].header, want[i].value)
		}
		want[i].partition, want[i].offset = g.partition, g.offset
	}
	checkConsumed(t, want, have)
	checkCommitted(t, adm, group, topic)
	checkJavaPartitions(t, want)
	return compatResult{topic, group, want}
}

// checkJavaPartitions asserts every record sits where the Java client's
// default partitioner (murmur2, as franz-go's StickyKeyPartitioner(nil)
// reimplements it) puts its key.
func checkJavaPartitions(t *testing.T, recs []sent) {
	t.Helper()
	part := kgo.StickyKeyPartitioner(nil).ForTopic("x")
	for _, r := range recs {
		want := int32(part.Partition(&kgo.Record{Key: []byte(r.key)}, compatPartitions))
		if r.partition != want {
			t.Fatalf("key %s in partition %d; the Java default partitioner picks %d", r.key, r.partition, want)
		}
	}
}

func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func testKcat(t *testing.T, bootstrap string) compatResult {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed (scripts/services up installs it): %v", err)
	}
	topic, group := "compat-kcat-"+suffix(), "compat-kcat-g-"+suffix()
	adm := newAdmin(t, bootstrap)
	createTopic(t, adm, topic, compatPartitions)

	want := compatRecords(60, 15)
	var in strings.Builder
	for _, s := range want {
		fmt.Fprintf(&in, "%s:%s\n", s.key, s.value)
	}
	// librdkafka's default partitioner is consistent_random (CRC32); murmur2
	// is the Java-compatible one.
	kcat(t, in.String(), "-b", bootstrap, "-P", "-t", topic, "-K:", "-X", "partitioner=murmur2_random", "-H", "seq=kcat")

	var md struct {
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(kcat(t, "", "-b", bootstrap, "-L", "-J", "-t", topic)), &md); err != nil {
		t.Fatalf("kcat -L -J: %v", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != topic || len(md.Topics[0].Partitions) != compatPartitions {
		t.Fatalf("kcat metadata: %+v", md)
	}

	out := kcat(t, "", "-b", bootstrap, "-C", "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-q",
		"-f", "%k|%s|%h|%p|%o\n", topic)
	var have []got
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("kcat output line %q", line)
		}
		p, _ := strconv.Atoi(f[3])
		o, _ := strconv.ParseInt(f[4], 10, 64)
		have = append(have, got{f[0], f[1], strings.TrimPrefix(f[2], "seq="), int32(p), o})
	}
	sortConsumed(have)
	bySeq := map[string]got{}
	for _, g := range have {
		bySeq[g.value] = g
	}
	for i := range want {
		g, ok := bySeq[want[i].value]
		if !ok {
			t.Fatalf("record %s never consumed by kcat", want[i].value)
		}
		want[i].partition, want[i].offset, want[i].header = g.partition, g.offset, "kcat"
	}
	checkConsumed(t, want, have)
	checkJavaPartitions(t, want)
	checkCommitted(t, adm, group, topic)
	return compatResult{topic, group, want}
}

func kafkaTool(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "scripts", "kafka", "kafka"), append([]string{"tool"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka tool %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func testJavaTools(t *testing.T, bootstrap string) compatResult {
	topic, group := "compat-java-"+suffix(), "compat-java-g-"+suffix()
	kafkaTool(t, "", "topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
		"--partitions", strconv.Itoa(compatPartitions), "--replication-factor", "1")
	desc := kafkaTool(t, "", "topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic)
	if !strings.Contains(desc, "PartitionCount: "+strconv.Itoa(compatPartitions)) {
		t.Fatalf("kafka-topics --describe:\n%s", desc)
	}

	want := compatRecords(50, 12)
	var in strings.Builder
	for _, s := range want {
		fmt.Fprintf(&in, "%s:%s\n", s.key, s.value)
	}
	kafkaTool(t, in.String(), "console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
		"--property", "parse.key=true", "--property", "key.separator=:", "--producer-property", "acks=all")

	consume := func() []got {
		out := kafkaTool(t, "", "console-consumer", "--bootstrap-server", bootstrap, "--topic", topic,
			"--group", group, "--from-beginning", "--max-messages", strconv.Itoa(len(want)), "--timeout-ms", "30000",
			"--formatter-property", "print.key=true", "--formatter-property", "print.partition=true",
			"--formatter-property", "print.offset=true", "--formatter-property", "key.separator=|",
			"--formatter-property", "line.separator=\n")
		var have []got
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			// Partition:0|Offset:3|key|value
			f := strings.Split(line, "|")
			if len(f) != 4 {
				t.Fatalf("console-consumer line %q", line)
			}
			p, _ := strconv.Atoi(strings.TrimPrefix(f[0], "Partition:"))
			o, _ := strconv.ParseInt(strings.TrimPrefix(f[1], "Offset:"), 10, 64)
			have = append(have, got{f[2], f[3], "", int32(p), o})
		}
		sortConsumed(have)
		return have
	}
	have := consume()
	bySeq := map[string]got{}
	for _, g := range have {
		bySeq[g.value] = g
	}
	for i := range want {
		g, ok := bySeq[want[i].value]
		if !ok {
			t.Fatalf("record %s never consumed by the console consumer", want[i].value)
		}
		want[i].partition, want[i].offset, want[i].header = g.partition, g.offset, ""
	}
	checkConsumed(t, want, have)
	checkJavaPartitions(t, want)

	out := kafkaTool(t, "", "consumer-groups", "--bootstrap-server", bootstrap, "--group", group,
		"--topic", topic, "--reset-offsets", "--to-earliest", "--execute")
	if !strings.Contains(out, group) {
		t.Fatalf("reset-offsets output:\n%s", out)
	}
	// After the reset, the same group reads everything again.
	checkConsumed(t, want, consume())
	return compatResult{topic, group, want}
}

// compatResult is what one client's scenario left in the broker: the
// records it acknowledged and the group that consumed them.
type compatResult struct {
	topic, group string
	want         []sent
}

// compatSuite runs every client against bootstrap, in parallel, and returns
// what each left behind once all are done.
func compatSuite(t *testing.T, bootstrap string) []compatResult {
	var (
		mu      sync.Mutex
		results []compatResult
	)
	t.Run("clients", func(t *testing.T) {
		for name, fn := range map[string]func(*testing.T, string) compatResult{
			"franz-go":    testFranzGo,
			"sarama":      testSarama,
			"kafka-go":    testKafkaGo,
			"kcat":        testKcat,
			"kafka-tools": testJavaTools,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := fn(t, bootstrap)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
		}
	})
	return results
}

// readAll reads topic from the start without a group until it has n records.
func readAll(t *testing.T, bootstrap, topic string, n int) []got {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var have []got
	for len(have) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d records", topic, len(have), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := ""
			for _, hd := range r.Headers {
				if hd.Key == "seq" {
					h = string(hd.Value)
				}
			}
			have = append(have, got{string(r.Key), string(r.Value), h, r.Partition, r.Offset})
		})
	}
	sortConsumed(have)
	return have
}

func TestCompatKafka(t *testing.T) {
	t.Parallel()
	compatSuite(t, Need(t, Kafka))
}
