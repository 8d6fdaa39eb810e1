package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// adminServer runs a runtime over kfake with an in-memory source and sink
// and serves its admin API; it returns the admin HOST:PORT.
func adminServer(t *testing.T) (string, *memconn.Store) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	up, st := memconn.NewUpstream(), memconn.NewStore()
	for i := range 10 {
		up.Append(connectors.Record{Topic: "shop.public.items", Key: []byte{byte('a' + i)}, Value: []byte(`{}`)})
	}
	reg := prometheus.NewRegistry()
	rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
		Kafka: kafkaclient.Config{Brokers: c.ListenAddrs()}, Registerer: reg,
		Backoff: connectors.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	}, []connectors.PipelineSpec{{
		Name: "shop", SourceName: "mem",
		NewSource: func() (connectors.Source, error) { return memconn.NewSource(up, 4), nil },
		Sinks: []connectors.SinkSpec{{
			Name: "cache", Topics: []string{"shop.public.items"},
			NewSink: func() (connectors.Sink, error) { return memconn.NewSink(st), nil },
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	srv := httptest.NewServer(rt.Handler(reg))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	deadline := time.Now().Add(45 * time.Second)
	for len(st.Snapshot()) < 10 {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the sink")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.TrimPrefix(srv.URL, "http://"), st
}

func TestStatusAndSinkRebuild(t *testing.T) {
	t.Parallel()
	addr, st := adminServer(t)
	// The sink's store has the records a moment before the runtime notes
	// the partition position status shows: ask until it does.
	out := mustRun(t, "status", "--admin", addr)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out, "HIGH WATERMARK") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		out = mustRun(t, "status", "--admin", addr)
	}
	for _, want := range []string{"pipeline shop", "source mem: running", `{"seq":10}`, "sink cache (group sluice.shop.cache)", "HIGH WATERMARK", "shop.public.items"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "sink", "rebuild", "--pipeline", "shop", "--sink", "cache", "--admin", addr)
	if !strings.Contains(out, "rebuild of shop/cache started") {
		t.Fatalf("rebuild: %s", out)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		if _, f := st.Rebuilds(); f == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rebuild did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out = mustRun(t, "status", "--admin", addr)
	if !strings.Contains(out, "rebuild     [####################] 100.0%  10/10") || !strings.Contains(out, "done") {
		t.Errorf("status after rebuild:\n%s", out)
	}
	if out := mustRun(t, "status", "--json", "--admin", addr); !strings.Contains(out, `"pipelines"`) {
		t.Errorf("status --json:\n%s", out)
	}
	if code, out := runCaptured(t, "sink", "rebuild", "--pipeline", "shop", "--sink", "nope", "--admin", addr); code != exitFailure || !strings.Contains(out, "unknown sink") {
		t.Errorf("unknown sink: exit %d %s", code, out)
	}
	if code, _ := runCaptured(t, "sink", "rebuild", "--pipeline", "shop", "--admin", addr); code != exitUsage {
		t.Errorf("missing --sink: exit %d, want %d", code, exitUsage)
	}
}

func TestStatusUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	code, out := runCaptured(t, "status", "--admin", addr)
	if code != exitFailure || !strings.Contains(out, addr) {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestProgressText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    connectors.Progress
		want string
	}{
		{connectors.Progress{Phase: "running", Done: 5, Total: 10, RatePerSec: 2, ETASeconds: 2.5}, "[##########..........]  50.0%  5/10  2/s  ETA 3s"},
		{connectors.Progress{Phase: "running", Done: 0, Total: 10, ETASeconds: -1}, "ETA unknown"},
		{connectors.Progress{Phase: "done", Done: 10, Total: 10}, "100.0%  10/10  0/s  done"},
		{connectors.Progress{Phase: "pending"}, "pending"},
	}
	for _, tc := range tests {
		if got := progressText(tc.p); !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q lacks %q", tc.p, got, tc.want)
		}
	}
}

func TestRestartsText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	next := now.Add(4200 * time.Millisecond)
	past := now.Add(-time.Second)
	for _, tc := range []struct {
		name string
		c    connectors.ComponentStatus
		want string
	}{
		{"healthy", connectors.ComponentStatus{State: "running"}, ""},
		{"restarted before", connectors.ComponentStatus{Restarts: 2}, " (2 restarts)"},
		{"retrying", connectors.ComponentStatus{State: "retrying", Retries: 3, NextAttemptAt: &next}, " (3 failed attempts, next attempt in 4.2s)"},
		{"due", connectors.ComponentStatus{Restarts: 1, Retries: 1, NextAttemptAt: &past}, " (1 restarts, 1 failed attempts, next attempt in 0s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := restartsText(tc.c, now); got != tc.want {
				t.Fatalf("restartsText = %q, want %q", got, tc.want)
			}
		})
	}
}
