package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// harness is one kfake cluster with an upstream and a store.
type harness struct {
	t     *testing.T
	kafka kafkaclient.Config
	up    *memconn.Upstream
	store *memconn.Store
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &harness{t: t, kafka: kafkaclient.Config{Brokers: c.ListenAddrs()}, up: memconn.NewUpstream(), store: memconn.NewStore()}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

const topic = "shop.public.items"

// spec is a pipeline from h.up to h.store over topic.
func (h *harness) spec(mut ...func(*connectors.PipelineSpec)) connectors.PipelineSpec {
	p := connectors.PipelineSpec{
		Name:       "shop",
		SourceName: "mem",
		NewSource:  func() (connectors.Source, error) { return memconn.NewSource(h.up, 7), nil },
		Partitions: 3,
		Sinks: []connectors.SinkSpec{{
			Name:           "cache",
			NewSink:        func() (connectors.Sink, error) { return memconn.NewSink(h.store), nil },
			Topics:         []string{topic},
			MaxPollRecords: 13,
		}},
	}
	for _, m := range mut {
		m(&p)
	}
	return p
}

// running is a Runtime running in a goroutine.
type running struct {
	rt     *connectors.Runtime
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) start(specs ...connectors.PipelineSpec) *running {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
		Kafka:      h.kafka,
		Logger:     testLogger(h.t),
		Registerer: reg,
		Backoff:    connectors.Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond},
	}, specs)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- rt.Run(ctx) }()
	h.t.Cleanup(func() { r.stop(h.t) })
	return r
}

// stop cancels the runtime and waits for a clean stop (idempotent).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err, ok := <-r.done; ok {
		close(r.done)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// change returns a change event record for key id, version v.
func change(id, v int) connectors.Record {
	return changeOn("items", id, v, connectors.OpUpdate)
}

func changeOn(table string, id, v int, op connectors.Op) connectors.Record {
	key := fmt.Sprintf(`{"id":%d}`, id)
	after := fmt.Sprintf(`{"id":%d,"v":%d,"secret":"s%d"}`, id, v, id)
	env := connectors.Envelope{
		After: json.RawMessage(after), Op: op,
		Source: connectors.SourceInfo{Connector: "mem", Name: "shop", DB: "shop", Schema: "public", Table: table},
	}
	if op == connectors.OpDelete {
		env.Before, env.After = json.RawMessage(key), nil
	}
	val, _ := env.Marshal()
	return connectors.Record{Topic: "shop.public." + table, Key: []byte(key), Value: val, Timestamp: time.Now()}
}

// eventually polls cond until it holds; it fails t after a generous bound
// (a liveness guard, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantStore checks the store holds, for every id < n, version want(id).
func wantStore(t *testing.T, st *memconn.Store, n int, want func(id int) int) {
	t.Helper()
	for id := range n {
		v, ok := st.Get(topic, fmt.Appendf(nil, `{"id":%d}`, id))
		if !ok {
			t.Fatalf("key %d missing in the store", id)
		}
		env, err := connectors.DecodeEnvelope(v)
		if err != nil {
			t.Fatal(err)
		}
		var img struct{ V int }
		_ = json.Unmarshal(env.After, &img)
		if img.V != want(id) {
			t.Fatalf("key %d: version %d, want %d", id, img.V, want(id))
		}
	}
}

func storeHas(st *memconn.Store, n int, want func(id int) int) bool {
	for id := range n {
		v, ok := st.Get(topic, fmt.Appendf(nil, `{"id":%d}`, id))
		if !ok {
			return false
		}
		env, err := connectors.DecodeEnvelope(v)
		if err != nil {
			return false
		}
		var img struct{ V int }
		_ = json.Unmarshal(env.After, &img)
		if img.V != want(id) {
			return false
		}
	}
	return true
}

// checkPerKeyOrder checks that the store applied the versions of every key
// in non-decreasing order, apart from replays from the start (re-delivery).
func checkPerKeyOrder(t *testing.T, st *memconn.Store) {
	t.Helper()
	last := map[string]int{}
	for _, w := range st.Log() {
		if w.Value == nil {
			continue
		}
		env, err := connectors.DecodeEnvelope(w.Value)
		if err != nil {
			t.Fatal(err)
		}
		var img struct{ V int }
		_ = json.Unmarshal(env.After, &img)
		if prev, ok := last[w.Key]; ok && img.V < prev {
			// A re-delivery restarts from a committed offset: allowed only
			// as a replay, which never goes below the first version.
			if img.V != 0 && img.V < prev-100 {
				t.Fatalf("key %s: version %d after %d", w.Key, img.V, prev)
			}
		}
		last[w.Key] = img.V
	}
}

func TestSourceToSink(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const keys, versions = 20, 5
	for v := range versions {
		for id := range keys {
			h.up.Append(change(id, v))
		}
	}
	r := h.start(h.spec())
	eventually(t, "store has every key's last version", func() bool { return storeHas(h.store, keys, func(int) int { return versions - 1 }) })
	eventually(t, "upstream acked to the end", func() bool { return h.up.Acked() == h.up.Len() })
	r.stop(t)
	wantStore(t, h.store, keys, func(int) int { return versions - 1 })
	checkPerKeyOrder(t, h.store)

	if got := metricSum(t, r.reg, "records_read_total"); got != keys*versions {
		t.Errorf("records_read_total = %v, want %d", got, keys*versions)
	}
	if got := metricSum(t, r.reg, "records_written_total"); got < keys*versions {
		t.Errorf("records_written_total = %v, want >= %d", got, keys*versions)
	}
	// Every ack is in order and the final one is stored.
	acks := h.up.Acks()
	for i := 1; i < len(acks); i++ {
		if acks[i] < acks[i-1] {
			t.Fatalf("acks out of order: %v", acks)
		}
	}
	// The sink left its group on shutdown (dynamic membership).
	adm, err := h.kafka.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	groups, err := kadm.NewClient(adm).DescribeGroups(context.Background(), "sluice.shop.cache")
	if err != nil {
		t.Fatal(err)
	}
	if g := groups["sluice.shop.cache"]; g.State != "Empty" || len(g.Members) != 0 {
		t.Errorf("group after shutdown: state %s, %d members; want Empty", g.State, len(g.Members))
	}
	pos := readPositions(t, h.kafka)
	if got := string(pos[string(connectors.PositionKey("shop", "mem"))]); got != string(memconn.Position(keys*versions)) {
		t.Fatalf("stored position %s, want %s", got, memconn.Position(keys*versions))
	}
}

// counter sums a metric family (all label sets) from reg.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// readPositions reads __sluice_offsets: key -> decoded latest position.
func readPositions(t *testing.T, kc kafkaclient.Config) map[string]connectors.Position {
	t.Helper()
	cl, err := kc.NewClient(kgo.ConsumeTopics(connectors.OffsetsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, connectors.OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(connectors.OffsetsTopic, 0)
	out := map[string]connectors.Position{}
	for next := int64(0); next < end.Offset; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", connectors.OffsetsTopic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			p, err := connectors.DecodePosition(r.Value)
			if err != nil {
				t.Errorf("decoding %s: %v", r.Value, err)
			}
			out[string(r.Key)] = p
		})
	}
	return out
}

func TestRestartResumesFromStoredPosition(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for id := range 30 {
		h.up.Append(change(id, 1))
	}
	r := h.start(h.spec())
	eventually(t, "first run acked everything", func() bool { return h.up.Acked() == 30 })
	r.stop(t)

	for id := range 30 {
		h.up.Append(change(id, 2))
	}
	r2 := h.start(h.spec())
	eventually(t, "second run caught up", func() bool { return storeHas(h.store, 30, func(int) int { return 2 }) })
	eventually(t, "second run acked", func() bool { return h.up.Acked() == 60 })
	r2.stop(t)
	opens := h.up.Opens()
	if len(opens) != 2 || opens[0] != 0 || opens[1] != 30 {
		t.Fatalf("opens %v, want [0 30]: the second run resumes at the stored position", opens)
	}
}

func TestSourceFailureRestartsWithoutLoss(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for id := range 10 {
		h.up.Append(change(id, 1))
	}
	r := h.start(h.spec())
	eventually(t, "acked", func() bool { return h.up.Acked() == 10 })
	h.up.FailNextRead(io.ErrUnexpectedEOF)
	for id := range 10 {
		h.up.Append(change(id, 2))
	}
	eventually(t, "store caught up after the restart", func() bool { return storeHas(h.store, 10, func(int) int { return 2 }) })
	eventually(t, "restart counted", func() bool { return metricSum(t, r.reg, "restarts_total") >= 1 })
	if got := metricSum(t, r.reg, "connection_errors_total"); got < 1 {
		t.Errorf("connection_errors_total = %v, want >= 1", got)
	}
	st := r.rt.Status()
	if src := st.Pipelines[0].Source; src.Restarts < 1 || !strings.Contains(src.LastError, "unexpected EOF") {
		t.Errorf("source status %+v: want a restart and the error", src)
	}
}

func TestIdleSourceAdvances(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.up.Append(change(1, 1))
	h.start(h.spec())
	eventually(t, "acked", func() bool { return h.up.Acked() == 1 })
	for range 5 {
		h.up.Heartbeat()
	}
	eventually(t, "heartbeats acked", func() bool { return h.up.Acked() == 6 })
}

func TestSinkBlocksWhileTargetDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.SetDown(memconn.ErrDown)
	for id := range 15 {
		h.up.Append(change(id, 1))
	}
	r := h.start(h.spec())
	eventually(t, "write failures counted", func() bool { return metricSum(t, r.reg, "connection_errors_total") >= 3 })
	if n := len(h.store.Snapshot()); n != 0 {
		t.Fatalf("store has %d keys while down", n)
	}
	h.store.SetDown(nil)
	eventually(t, "store caught up", func() bool { return storeHas(h.store, 15, func(int) int { return 1 }) })
}

func TestRejectedRecordsGoToDLQ(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.Reject(func(r connectors.Record) error {
		if string(r.Key) == `{"id":3}` {
			return fmt.Errorf("mapping conflict")
		}
		return nil
	})
	for id := range 6 {
		h.up.Append(change(id, 1))
	}
	r := h.start(h.spec())
	eventually(t, "dlq counted", func() bool { return metricSum(t, r.reg, "records_dlq_total") == 1 })
	eventually(t, "others written", func() bool { return len(h.store.Snapshot()) == 5 })

	cl, err := h.kafka.NewClient(kgo.ConsumeTopics(topic+".dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("dlq holds %d records (%v), want 1", len(recs), fs.Errors())
	}
	hs := map[string]string{}
	for _, hd := range recs[0].Headers {
		hs[hd.Key] = string(hd.Value)
	}
	if string(recs[0].Key) != `{"id":3}` || hs[connectors.HeaderDLQTopic] != topic ||
		!strings.Contains(hs[connectors.HeaderDLQError], "mapping conflict") || hs[connectors.HeaderDLQOffset] == "" || hs[connectors.HeaderDLQPartition] == "" {
		t.Fatalf("dlq record key %s headers %v", recs[0].Key, hs)
	}
	// The batch was committed: the status shows no lag.
	eventually(t, "committed past the rejected record", func() bool {
		var lag int64 = -1
		for _, p := range r.rt.Status().Pipelines[0].Sinks[0].Partitions {
			lag = max(lag, p.Lag)
		}
		return lag == 0
	})
}

func TestRebuildThroughAdminAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for id := range 25 {
		h.up.Append(change(id, 1))
	}
	r := h.start(h.spec())
	eventually(t, "store caught up", func() bool { return storeHas(h.store, 25, func(int) int { return 1 }) })

	srv := httptest.NewServer(r.rt.Handler(r.reg))
	defer srv.Close()
	post := func(path string) int {
		resp, err := http.Post(srv.URL+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(connectors.RebuildPath("shop", "nope")); code != http.StatusNotFound {
		t.Fatalf("unknown sink: %d", code)
	}
	if code := post(connectors.RebuildPath("shop", "cache")); code != http.StatusAccepted {
		t.Fatalf("rebuild: %d", code)
	}
	eventually(t, "rebuild finished", func() bool {
		b, f := h.store.Rebuilds()
		return b == 1 && f == 1
	})
	wantStore(t, h.store, 25, func(int) int { return 1 })

	resp, err := http.Get(srv.URL + connectors.APIStatus)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st connectors.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	rb := st.Pipelines[0].Sinks[0].Rebuild
	if rb == nil || rb.Phase != connectors.RebuildDone || rb.Done != 25 || rb.Total != 25 {
		t.Fatalf("rebuild status %+v, want done 25/25", rb)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" {
			for _, name := range []string{"records_read_total", "records_written_total", "ack_lag_seconds", "connection_errors_total", "checkpoint_position", "consumer_lag"} {
				if !strings.Contains(string(body), name) {
					t.Errorf("/metrics lacks %s", name)
				}
			}
		}
	}
}

func TestTransformsAndRoutingThroughBroker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	routed := memconn.NewStore()
	spec := h.spec(func(p *connectors.PipelineSpec) {
		p.Transforms = []connectors.TransformSpec{
			{Type: connectors.TransformMaskFields, Table: "public.items", Fields: []string{"secret"}},
			{Type: connectors.TransformRoute, Tables: []string{"public.other"}, Topic: "routed"},
		}
		p.Sinks = append(p.Sinks, connectors.SinkSpec{
			Name:    "routed",
			NewSink: func() (connectors.Sink, error) { return memconn.NewSink(routed), nil },
			Topics:  []string{"routed"},
		})
	})
	h.up.Append(change(1, 1), changeOn("other", 2, 1, connectors.OpCreate))
	h.start(spec)
	eventually(t, "both delivered", func() bool {
		_, a := h.store.Get(topic, []byte(`{"id":1}`))
		_, b := routed.Get("routed", []byte(`{"id":2}`))
		return a && b
	})
	v, _ := h.store.Get(topic, []byte(`{"id":1}`))
	if !strings.Contains(string(v), `"secret":"****"`) {
		t.Fatalf("not masked: %s", v)
	}
}

// Concurrent runtimes on one cluster keep their positions apart.
func TestTwoPipelinesKeepSeparatePositions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	up2 := memconn.NewUpstream()
	for id := range 5 {
		h.up.Append(change(id, 1))
		up2.Append(change(id, 1), change(id, 2))
	}
	p2 := h.spec(func(p *connectors.PipelineSpec) {
		p.Name = "two"
		p.NewSource = func() (connectors.Source, error) { return memconn.NewSource(up2, 3), nil }
		p.Sinks = nil
	})
	r := h.start(h.spec(), p2)
	eventually(t, "both acked", func() bool { return h.up.Acked() == 5 && up2.Acked() == 10 })
	r.stop(t)
	pos := readPositions(t, h.kafka)
	if string(pos[string(connectors.PositionKey("shop", "mem"))]) != string(memconn.Position(5)) ||
		string(pos[string(connectors.PositionKey("two", "mem"))]) != string(memconn.Position(10)) {
		t.Fatalf("positions %q", pos)
	}
}

// A sink with nothing to fetch (caught up after a restart) still reports
// every partition's committed offset, end offset and lag.
func TestStatusCoversIdlePartitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Declared topics exist before the first change.
	declared := h.spec(func(p *connectors.PipelineSpec) {
		p.Topics = []string{"shop.public.empty"}
		p.Sinks[0].Topics = p.Topics
	})
	r0 := h.start(declared)
	eventually(t, "the declared topic's partitions show in status", func() bool {
		return len(r0.rt.Status().Pipelines[0].Sinks[0].Partitions) == 3
	})
	r0.stop(t)

	h.up.Append(change(1, 1), change(2, 1))
	r := h.start(h.spec())
	eventually(t, "store has both", func() bool { return len(h.store.Snapshot()) == 2 })
	r.stop(t)

	sinkOnly := h.spec(func(p *connectors.PipelineSpec) { p.NewSource = nil })
	r2 := h.start(sinkOnly)
	eventually(t, "status lists the topic's 3 partitions, caught up", func() bool {
		ps := r2.rt.Status().Pipelines[0].Sinks[0].Partitions
		if len(ps) != 3 {
			return false
		}
		var committed int64
		for _, p := range ps {
			if p.Lag != 0 || p.Committed != p.HighWatermark {
				return false
			}
			committed += p.Committed
		}
		return committed == 2
	})
}

// plainSink hides memconn's Rebuilder: a rebuild then only replays.
type plainSink struct{ connectors.Sink }

// A rebuild while the source keeps producing: live records flow during the
// replay, the rebuild finishes, and the target ends with every key's latest
// version. A second request while one runs is refused.
func TestRebuildWithLiveRecords(t *testing.T) {
	t.Parallel()
	for _, rebuilder := range []bool{true, false} {
		t.Run(fmt.Sprintf("rebuilder=%v", rebuilder), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			spec := h.spec()
			if !rebuilder {
				spec.Sinks[0].NewSink = func() (connectors.Sink, error) { return plainSink{memconn.NewSink(h.store)}, nil }
			}
			for id := range 30 {
				h.up.Append(change(id, 1))
			}
			r := h.start(spec)
			eventually(t, "caught up", func() bool { return storeHas(h.store, 30, func(int) int { return 1 }) })
			if err := r.rt.Rebuild("shop", "cache"); err != nil {
				t.Fatal(err)
			}
			if err := r.rt.Rebuild("shop", "cache"); !errors.Is(err, connectors.ErrRebuildInProgress) {
				// It may already have finished on a fast machine; then a
				// second one is accepted, which is also correct.
				if err != nil {
					t.Fatalf("second rebuild: %v", err)
				}
			}
			for id := range 30 {
				h.up.Append(change(id, 2))
			}
			eventually(t, "rebuild done and live versions applied", func() bool {
				rb := r.rt.Status().Pipelines[0].Sinks[0].Rebuild
				return rb != nil && rb.Phase == connectors.RebuildDone && storeHas(h.store, 30, func(int) int { return 2 })
			})
			if b, f := h.store.Rebuilds(); rebuilder && (b == 0 || b != f) {
				t.Errorf("BeginRebuild %d, FinishRebuild %d", b, f)
			} else if !rebuilder && b != 0 {
				t.Errorf("a plain sink got BeginRebuild")
			}
			// Every record up to the recorded high watermark was replayed.
			if rb := r.rt.Status().Pipelines[0].Sinks[0].Rebuild; rb.Done != rb.Total || rb.Total < 30 {
				t.Errorf("rebuild progress %d/%d", rb.Done, rb.Total)
			}
		})
	}
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
