package connectors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
)

// checkedSource is a memconn source whose Check returns what the test says.
type checkedSource struct {
	*memconn.Source
	probe *probe
}

func (s *checkedSource) Check(context.Context) error { return s.probe.get() }

type probe struct {
	mu  sync.Mutex
	err error
}

func (p *probe) set(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }
func (p *probe) get() error    { p.mu.Lock(); defer p.mu.Unlock(); return p.err }

// startWith is h.start with a changed RuntimeConfig.
func (h *harness) startWith(mut func(*connectors.RuntimeConfig), specs ...connectors.PipelineSpec) *running {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	cfg := connectors.RuntimeConfig{
		Kafka: h.kafka, Logger: testLogger(h.t), Registerer: reg,
		Backoff: connectors.Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond},
	}
	mut(&cfg)
	rt, err := connectors.NewRuntime(cfg, specs)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- rt.Run(ctx) }()
	h.t.Cleanup(func() { r.stop(h.t) })
	return r
}

func sourceStatus(r *running) connectors.SourceStatus { return *r.rt.Status().Pipelines[0].Source }

// TestCheckFailureShowsInStatus: a running source whose Check fails is
// "retrying" with the error, a count of failed checks and the next check
// (a table gone: "degraded"); records keep flowing; once the check passes
// it is "running" again with the counters cleared.
func TestCheckFailureShowsInStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pr := &probe{}
	spec := h.spec(func(p *connectors.PipelineSpec) {
		p.NewSource = func() (connectors.Source, error) {
			return &checkedSource{Source: memconn.NewSource(h.up, 7), probe: pr}, nil
		}
	})
	r := h.startWith(func(c *connectors.RuntimeConfig) { c.CheckInterval = 10 * time.Millisecond }, spec)
	eventually(t, "running", func() bool { return sourceStatus(r).State == connectors.StateRunning })

	for _, tc := range []struct {
		err   error
		state string
	}{
		{errors.New("postgres 127.0.0.1:5432/shop unreachable: connection refused"), connectors.StateRetrying},
		{&connectors.DegradedError{Err: errors.New("postgres: table not found: public.gone")}, connectors.StateDegraded},
	} {
		pr.set(tc.err)
		eventually(t, tc.state, func() bool {
			st := sourceStatus(r)
			return st.State == tc.state && st.LastError == tc.err.Error() && st.Retries >= 2 && st.NextAttemptAt != nil
		})
		h.up.Append(change(1, 1))
		eventually(t, "records flow while "+tc.state, func() bool { return storeHas(h.store, 2, func(int) int { return 1 }) || h.up.Acked() == h.up.Len() })
		pr.set(nil)
		eventually(t, "running again", func() bool {
			st := sourceStatus(r)
			return st.State == connectors.StateRunning && st.Retries == 0 && st.NextAttemptAt == nil
		})
		if st := sourceStatus(r); st.Restarts != 0 {
			t.Fatalf("a failed check restarted the source: %+v", st)
		}
	}
}

// bigChange is a change event for id with a value of about n bytes.
func bigChange(id, n int) connectors.Record {
	r := change(id, 1)
	r.Value = fmt.Appendf(nil, `{"before":null,"after":{"id":%d,"v":1,"blob":"%s"},"op":"c"}`, id, strings.Repeat("x", n))
	return r
}

func consumeAll(t *testing.T, h *harness, topic string) []*kgo.Record {
	t.Helper()
	cl, err := h.kafka.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	return fs.Records()
}

// TestRecordTooLargeStopsUntilLimitRaised: a 2 MB record on a topic with
// the default max.message.bytes fails the source naming topic, key and
// size; nothing after it is delivered (nothing skipped). Once the topic's
// max.message.bytes is raised, the next run delivers it and what follows.
func TestRecordTooLargeStopsUntilLimitRaised(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.up.Append(change(0, 1), bigChange(1, 2_000_000), change(2, 1))
	r := h.start(h.spec())
	eventually(t, "too large in status", func() bool {
		st := sourceStatus(r)
		return strings.Contains(st.LastError, "record too large") && strings.Contains(st.LastError, topic) &&
			strings.Contains(st.LastError, `{"id":1}`) && strings.Contains(st.LastError, "max.message.bytes 1048588")
	})
	if _, ok := h.store.Get(topic, []byte(`{"id":2}`)); ok {
		t.Fatal("the record after the too-large one was delivered: the source skipped it")
	}
	if metricSum(t, r.reg, "records_too_large_total") < 1 {
		t.Error("records_too_large_total not counted")
	}
	cl, err := h.kafka.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	v := "4000000"
	rs, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = rs.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "all three delivered after the limit was raised", func() bool { return len(h.store.Snapshot()) == 3 })
	eventually(t, "running", func() bool { return sourceStatus(r).State == connectors.StateRunning })
	if got, _ := h.store.Get(topic, []byte(`{"id":1}`)); len(got) < 2_000_000 {
		t.Fatalf("the large record arrived with %d bytes", len(got))
	}
	eventually(t, "acked to the end", func() bool { return h.up.Acked() == h.up.Len() })
}

// TestRecordTooLargeToDLQ: with OnTooLarge dlq the too-large record's key
// and the error go to <topic>.dlq, the others flow, the status names it.
func TestRecordTooLargeToDLQ(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.up.Append(change(0, 1), bigChange(1, 2_000_000), change(2, 1))
	r := h.start(h.spec(func(p *connectors.PipelineSpec) { p.OnTooLarge = connectors.TooLargeDLQ }))
	eventually(t, "others delivered", func() bool { return len(h.store.Snapshot()) == 2 })
	eventually(t, "acked to the end", func() bool { return h.up.Acked() == h.up.Len() })
	recs := consumeAll(t, h, topic+".dlq")
	if len(recs) != 1 || string(recs[0].Key) != `{"id":1}` || recs[0].Value != nil {
		t.Fatalf("dlq: %d records, first %+v", len(recs), recs)
	}
	hs := map[string]string{}
	for _, hd := range recs[0].Headers {
		hs[hd.Key] = string(hd.Value)
	}
	if hs[connectors.HeaderDLQTopic] != topic || hs[connectors.HeaderDLQSize] == "" || !strings.Contains(hs[connectors.HeaderDLQError], "record too large") {
		t.Fatalf("dlq headers %v", hs)
	}
	if st := sourceStatus(r); st.State != connectors.StateRunning || !strings.Contains(st.LastError, `{"id":1}`) {
		t.Fatalf("status %+v", st)
	}
}

// TestLargeRecordUnderTopicLimitKeepsOrder: records above the client's
// default batch size but within the topic's limit are delivered in order
// with small ones around them.
func TestLargeRecordUnderTopicLimitKeepsOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cl, err := h.kafka.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, map[string]*string{"max.message.bytes": new("8000000")}, topic); err != nil {
		t.Fatal(err)
	}
	for v := range 4 {
		h.up.Append(change(5, v), bigChange(5, 1_500_000), change(5, v))
	}
	h.start(h.spec())
	eventually(t, "acked to the end", func() bool { return h.up.Acked() == h.up.Len() })
	eventually(t, "last version in the store", func() bool { return storeHas(h.store, 0, nil) && len(h.store.Log()) >= 12 })
	got, _ := h.store.Get(topic, []byte(`{"id":5}`))
	if !strings.Contains(string(got), `"v":3`) || len(got) > 1000 {
		t.Fatalf("last value of key 5: %.80s", got)
	}
}
