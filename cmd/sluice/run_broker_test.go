package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// TestRuntimeOverEmbeddedBroker runs the connector runtime against the real
// Sluice broker (the unit tests of connectors use kfake): an in-memory
// source and sink through it, then broker and runtime restarted on the same
// data directory, resuming from the position stored in __sluice_offsets.
func TestRuntimeOverEmbeddedBroker(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	up, st := memconn.NewUpstream(), memconn.NewStore()
	const keys = 40
	appendVersion := func(v int) {
		for id := range keys {
			up.Append(connectors.Record{Topic: "shop.public.items",
				Key: fmt.Appendf(nil, `{"id":%d}`, id), Value: fmt.Appendf(nil, `{"id":%d,"v":%d}`, id, v)})
		}
	}
	hasVersion := func(v int) bool {
		for id := range keys {
			got, ok := st.Get("shop.public.items", fmt.Appendf(nil, `{"id":%d}`, id))
			if !ok || string(got) != fmt.Sprintf(`{"id":%d,"v":%d}`, id, v) {
				return false
			}
		}
		return true
	}
	session := func(v int) {
		b, err := broker.New(broker.Config{DataDir: dataDir, Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		bctx, stopBroker := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := b.Run(bctx); err != nil {
				t.Errorf("broker: %v", err)
			}
		})
		defer func() { stopBroker(); wg.Wait() }()
		rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
			Kafka:   kafkaclient.Config{Brokers: []string{b.Addr()}},
			Logger:  slog.New(slog.DiscardHandler),
			Backoff: connectors.Backoff{Min: 20 * time.Millisecond, Max: 500 * time.Millisecond},
		}, []connectors.PipelineSpec{{
			Name: "shop", SourceName: "mem", Partitions: 3,
			NewSource: func() (connectors.Source, error) { return memconn.NewSource(up, 16), nil },
			Sinks: []connectors.SinkSpec{{Name: "cache", Topics: []string{"shop.public.items"},
				NewSink: func() (connectors.Sink, error) { return memconn.NewSink(st), nil }}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		deadline := time.Now().Add(50 * time.Second)
		for !hasVersion(v) || up.Acked() != up.Len() {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("session %d: store or acks did not catch up (acked %d of %d); status %+v", v, up.Acked(), up.Len(), rt.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	appendVersion(1)
	session(1)
	appendVersion(2)
	session(2)
	opens := up.Opens()
	if len(opens) != 2 || opens[1] != keys {
		t.Fatalf("source opened at %v, want the second run at %d (the stored position)", opens, keys)
	}
}
