package postgres

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
	"github.com/sluicehq/sluice/internal/kafkaclient"
)

// The source under the real connectors runtime, through a Kafka broker
// (kfake), into an in-memory sink: positions stored in __sluice_offsets,
// acks through the runtime, a restart of the whole runtime in between.
// The sink ends up equal to the table.
func TestUnderRuntime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, topic := createTable(e, "rt", 2000)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	store := memconn.NewStore()
	cfg := e.config(tbl)
	cfg.ChunkSize = 300
	spec := connectors.PipelineSpec{
		Name: e.name, SourceName: "postgres", Partitions: 3,
		NewSource: func() (connectors.Source, error) { return New(cfg) },
		Sinks: []connectors.SinkSpec{{Name: "mem", Topics: []string{topic},
			NewSink: func() (connectors.Sink, error) { return memconn.NewSink(store), nil }}},
	}
	run := func() (stop func()) {
		rt, err := connectors.NewRuntime(connectors.RuntimeConfig{
			Kafka:   kafkaclient.Config{Brokers: cluster.ListenAddrs()},
			Logger:  slog.New(slog.DiscardHandler),
			Backoff: connectors.Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond},
		}, []connectors.PipelineSpec{spec})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }() // waited for by stop
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	storeState := func() map[string]string {
		out := map[string]string{}
		for k, v := range store.Snapshot() {
			env, err := connectors.DecodeEnvelope(v)
			if err != nil || env.Op == connectors.OpDelete {
				continue
			}
			row, _ := connectors.ParseRow(env.After)
			vv, _ := row.Get("v")
			ss, _ := row.Get("s")
			out[strings.TrimPrefix(k, topic+"\x00")] = connectors.KeyText(vv) + "|" + connectors.KeyText(ss)
		}
		return out
	}
	waitEqual := func(what string) {
		t.Helper()
		want := e.tableState(tbl, "v, s")
		deadline := time.Now().Add(60 * time.Second)
		for {
			d := diffStates(want, storeState())
			if d == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: sink differs from the table:\n%s", what, d)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stop := run()
	w := startWriter(e, tbl, 2500)
	time.Sleep(300 * time.Millisecond) // let writes overlap the snapshot and stream; not a pass/fail timing
	stop()
	w.halt(t)
	e.exec("UPDATE " + tbl + " SET v = v + 1000 WHERE id % 7 = 0") // while nothing runs
	var after string
	if err := e.pool.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&after); err != nil {
		t.Fatal(err)
	}
	stop = run()
	waitEqual("after a restart")
	// The runtime acknowledged what it stored: the slot's confirmed flush
	// LSN reaches past the last update.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		err := e.pool.QueryRow(context.Background(), "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", "sluice_"+e.name, after).Scan(&ok)
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot's confirmed flush LSN never reached %s (%v)", after, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
}
