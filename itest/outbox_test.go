package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox"
	"github.com/sluicehq/sluice/outbox/router"
	"github.com/sluicehq/sluice/sources/postgres"
)

// TestOutboxExamplePipelineValidates: the example's pipeline passes
// `sluice pipeline validate` with no variables set.
// Not parallel: it clears the variables (empty takes the ${VAR:-default}).
func TestOutboxExamplePipelineValidates(t *testing.T) {
	for _, v := range []string{"ORDERS_PG_DSN", "ES_URL"} {
		t.Setenv(v, "")
	}
	out := MustSluice(t, "pipeline", "validate", "-f", "../examples/outbox-orders/pipeline.yaml")
	if !strings.Contains(out, "outbox: table public.outbox -> outbox.event.{aggregatetype}") {
		t.Fatalf("validate output lacks the outbox route:\n%s", out)
	}
}

// TestOutboxRoutedFromPostgresSource writes events with the outbox library
// and routes what the real Postgres source captures of the outbox table,
// configured as a plain changelog table, through outbox/router by hand
// (the source's own routing, Config.Outbox, is TestOutboxRunEndToEnd's). It
// checks:
// an event is routed iff its transaction commits (a row deleted in the same
// transaction still routes), and after a redelivery (source reopened with
// nothing acknowledged) the event id lets a consumer deduplicate to exactly
// the committed events.
func TestOutboxRoutedFromPostgresSource(t *testing.T) {
	t.Parallel()
	dsn := Need(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := suffix()
	name := "obx" + s
	table := "public.outbox_" + s
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ddl, err := outbox.DDL(outbox.Postgres, table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		slot := "sluice_" + name
		for range 50 { // the walsender may take a moment to release the slot
			var left int
			_, _ = c.Exec(context.Background(), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active", slot)
			if c.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&left) != nil || left == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		_, _ = c.Exec(context.Background(), "DROP PUBLICATION IF EXISTS "+slot)
		_, _ = c.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
	})

	cfg := postgres.Config{Pipeline: name, DSN: dsn, Tables: []string{table}, Snapshot: connectors.SnapshotNever}
	rt, err := router.New(router.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	open := func() *postgres.Source {
		src, err := postgres.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, nil); err != nil {
			t.Fatal(err)
		}
		return src
	}
	src := open()

	w, err := outbox.New(outbox.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	write := func(commit bool, extra func(pgx.Tx) error, evs ...outbox.Event) []outbox.Event {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
		if err := w.Write(ctx, tx, evs...); err != nil {
			t.Fatal(err)
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return evs
	}
	ev := func(agg, typ string, n int) outbox.Event {
		return outbox.Event{AggregateType: "order", AggregateID: agg, Type: typ,
			Payload: json.RawMessage(fmt.Sprintf(`{"order":%q,"n":%d}`, agg, n)), Headers: map[string]string{"trace": typ}}
	}
	var want []outbox.Event
	want = append(want, write(true, nil, ev("o-1", "Placed", 1), ev("o-1", "Paid", 2))...)
	// Rolled back: never routed.
	write(false, nil, ev("o-2", "Placed", 1))
	// Deleted in the same transaction: still routed, from its insert.
	deleted := write(true, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE aggregateid = 'o-3'")
		return err
	}, ev("o-3", "Placed", 1))
	want = append(want, deleted...)
	want = append(want, write(true, nil, ev("o-1", "Shipped", 3))...)

	// A consumer that deduplicates on the id header.
	seen := map[string]bool{}
	var got []connectors.Record
	consume := func(recs []connectors.Record) {
		for _, r := range recs {
			id, _ := r.Header("id")
			if !seen[string(id)] {
				seen[string(id)] = true
				got = append(got, r)
			}
		}
	}
	lastID := want[len(want)-1].ID
	read := func(src *postgres.Source) int {
		routed := 0
		for {
			b, err := src.Read(ctx)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			recs := routeBatch(t, rt, b.Records)
			routed += len(recs)
			consume(recs)
			for _, r := range recs {
				if id, _ := r.Header("id"); string(id) == lastID {
					return routed // commit order: nothing of the above can follow
				}
			}
		}
	}
	if n := read(src); n != len(want) {
		t.Fatalf("first delivery routed %d events, want %d", n, len(want))
	}
	// Nothing acknowledged: reopening redelivers, and the ids deduplicate.
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
	src = open()
	defer src.Close(context.Background()) //nolint:errcheck // test teardown
	if n := read(src); n != len(want) {
		t.Fatalf("redelivery routed %d events, want %d", n, len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("consumer kept %d events, want %d", len(got), len(want))
	}
	for i, e := range want {
		r := got[i]
		id, _ := r.Header("id")
		typ, _ := r.Header("type")
		trace, _ := r.Header("trace")
		if r.Topic != "outbox.event.order" || string(r.Key) != e.AggregateID || string(id) != e.ID ||
			string(typ) != e.Type || string(trace) != e.Type || !jsonEqual(r.Value, e.Payload) {
			t.Fatalf("event %d: topic %s key %s id %s type %s trace %s value %s; want %+v", i, r.Topic, r.Key, id, typ, trace, r.Value, e)
		}
	}
}

// routeBatch routes the captured changes of the outbox table: inserts only,
// from their after images, as the source will.
func routeBatch(t *testing.T, rt *router.Router, recs []connectors.Record) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	for _, r := range recs {
		if r.Value == nil {
			continue // tombstone after a delete
		}
		env, err := connectors.DecodeEnvelope(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if env.Op != connectors.OpCreate {
			continue
		}
		row, err := rowOf(env.After)
		if err != nil {
			t.Fatal(err)
		}
		rec, ok, err := rt.Route(env.Op, row)
		if err != nil || !ok {
			t.Fatalf("routing %s: %v", env.After, err)
		}
		out = append(out, rec)
	}
	return out
}

// rowOf turns an after image back into the Row the source encoded: strings
// as string, everything else (jsonb, numbers) as embedded JSON.
func rowOf(img json.RawMessage) (connectors.Row, error) {
	dec := json.NewDecoder(bytes.NewReader(img))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("after image is not an object")
	}
	var row connectors.Row
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		var v any = raw
		if raw[0] == '"' {
			var s string
			_ = json.Unmarshal(raw, &s)
			v = s
		} else if string(raw) == "null" {
			v = nil
		}
		row = append(row, connectors.Column{Name: tok.(string), Value: v})
	}
	return row, nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// TestOutboxRunEndToEnd runs `sluice run` (embedded broker, Postgres source
// with an outbox and no tables) in table mode and in message mode. Several
// writers commit events with the outbox library on shared aggregates, some
// transactions roll back, and the run is SIGKILLed mid-stream and started
// again. A franz-go consumer of outbox.event.<aggregatetype> then sees,
// after deduplicating on the id header, exactly the committed events (key
// aggregateid, value the payload, headers id and type), each aggregate's
// in commit order, and every redelivered event at most once more.
func TestOutboxRunEndToEnd(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"table", "message"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			outboxRunEndToEnd(t, mode == "message")
		})
	}
}

// committedEvent is what a writer committed: the event and its aggregate's
// sequence number.
type committedEvent struct {
	id, agg, typ string
	seq          int
}

func outboxRunEndToEnd(t *testing.T, messages bool) {
	dsn := Need(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := suffix()
	pipeline := "obxrun" + strings.ReplaceAll(s, "_", "")
	table := "public.obxrun_" + s
	prefix := "itest.outbox." + s
	aggType := "order" + strings.ReplaceAll(s, "_", "")
	topic := "outbox.event." + aggType
	slot := "sluice_" + pipeline

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	opts := []outbox.Option{outbox.WithMode(outbox.MessageMode), outbox.WithPrefix(prefix)}
	outboxYAML := fmt.Sprintf("{prefix: %q}", prefix)
	if !messages {
		ddl, err := outbox.DDL(outbox.Postgres, table)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
		opts = []outbox.Option{outbox.WithTable(table)}
		outboxYAML = fmt.Sprintf("{table: %s}", table)
	}
	t.Cleanup(func() { dropOutboxRun(t, dsn, slot, table) })
	w, err := outbox.New(opts...)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	bootstrap := freeLoopback(t)
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: %s
    source:
      type: postgres
      dsn: %s
      snapshot: never
      partitions: 3
      outbox: %s
`, filepath.Join(dir, "data"), bootstrap, pipeline, dsn, outboxYAML)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeLoopback(t)

	// Writers share aggregates; a per-aggregate lock held from BEGIN to
	// COMMIT makes the sequence numbers the aggregate's commit order.
	const writers, aggs = 4, 6
	var aggMu [aggs]sync.Mutex
	var aggSeq [aggs]int
	var mu sync.Mutex
	var committed []committedEvent
	rolledBack := map[string]bool{}
	write := func(wr, txs int) error {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		for i := range txs {
			a := (wr + i) % aggs
			aggMu[a].Lock()
			err := func() error {
				defer aggMu[a].Unlock()
				rollback := i%5 == 4
				evs := []outbox.Event{}
				for k := range 1 + i%3 {
					seq := aggSeq[a] + k + 1
					evs = append(evs, outbox.Event{AggregateType: aggType, AggregateID: fmt.Sprintf("agg-%d", a),
						Type: fmt.Sprintf("step%d", seq%4), Payload: json.RawMessage(fmt.Sprintf(`{"agg":%d,"seq":%d,"writer":%d}`, a, seq, wr))})
				}
				tx, err := c.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(context.Background()) //nolint:errcheck // after Commit it is a no-op
				if err := w.Write(ctx, tx, evs...); err != nil {
					return err
				}
				if rollback {
					mu.Lock()
					for _, e := range evs {
						rolledBack[e.ID] = true
					}
					mu.Unlock()
					return tx.Rollback(ctx)
				}
				if err := tx.Commit(ctx); err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, e := range evs {
					aggSeq[a]++
					committed = append(committed, committedEvent{id: e.ID, agg: e.AggregateID, typ: e.Type, seq: aggSeq[a]})
				}
				return nil
			}()
			if err != nil {
				return err
			}
		}
		return nil
	}
	writeAll := func(txs int) error {
		var g errgroup.Group
		for wr := range writers {
			g.Go(func() error { return write(wr, txs) })
		}
		return g.Wait()
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var received []*kgo.Record
	seen := map[string]int{}
	// consumeUntil polls until every committed event arrived.
	consumeUntil := func(what string, run *runProc) {
		t.Helper()
		for {
			mu.Lock()
			want := len(committed)
			mu.Unlock()
			if len(seen) >= want {
				return
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			fs := cl.PollFetches(pctx)
			pcancel()
			if ctx.Err() != nil {
				t.Fatalf("%s: %d of %d committed events consumed\n%s", what, len(seen), want, run.out.String())
			}
			fs.EachRecord(func(r *kgo.Record) {
				received = append(received, r)
				seen[kgoHeader(r, "id")]++
			})
		}
	}

	run := startRun(t, file, admin)
	waitSlot(ctx, t, conn, slot, run)
	if err := writeAll(5); err != nil {
		t.Fatal(err)
	}
	consumeUntil("first run", run)

	// Kill mid-stream: writers keep committing while the run dies.
	var g errgroup.Group
	g.Go(func() error { return writeAll(10) })
	for time.Sleep(50 * time.Millisecond); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n > len(seen)+5 || ctx.Err() != nil {
			break
		}
	}
	_ = run.cmd.Process.Kill()
	_ = run.cmd.Wait()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := writeAll(3); err != nil {
		t.Fatal(err)
	}
	run = startRun(t, file, admin)
	consumeUntil("restarted run", run)
	run.stop()

	mu.Lock()
	defer mu.Unlock()
	byID := map[string]committedEvent{}
	for _, e := range committed {
		byID[e.id] = e
	}
	lastSeq := map[string]int{}
	dups := 0
	first := map[string]bool{}
	for _, r := range received {
		id := kgoHeader(r, "id")
		if rolledBack[id] {
			t.Fatalf("event %s of a rolled-back transaction was delivered", id)
		}
		e, ok := byID[id]
		if !ok {
			t.Fatalf("delivered event %s was never committed", id)
		}
		if first[id] {
			dups++
			continue
		}
		first[id] = true
		var p struct{ Seq int }
		if err := json.Unmarshal(r.Value, &p); err != nil || p.Seq != e.seq {
			t.Fatalf("event %s value %s: want seq %d (%v)", id, r.Value, e.seq, err)
		}
		if r.Topic != topic || string(r.Key) != e.agg || kgoHeader(r, "type") != e.typ {
			t.Fatalf("event %s: topic %s key %s type %s; want %s %s %s", id, r.Topic, r.Key, kgoHeader(r, "type"), topic, e.agg, e.typ)
		}
		// Deduplicated, each aggregate's events come in commit order.
		if e.seq != lastSeq[e.agg]+1 {
			t.Fatalf("aggregate %s: event seq %d after %d", e.agg, e.seq, lastSeq[e.agg])
		}
		lastSeq[e.agg] = e.seq
	}
	for id, n := range seen {
		if n > 2 {
			t.Fatalf("event %s delivered %d times across one restart", id, n)
		}
	}
	if len(first) != len(committed) {
		t.Fatalf("deduplicated %d events, committed %d", len(first), len(committed))
	}
	if len(rolledBack) == 0 {
		t.Fatal("the workload rolled nothing back")
	}
	t.Logf("%d committed events (%d rolled back) delivered; %d redelivered after SIGKILL", len(committed), len(rolledBack), dups)
}

func kgoHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// waitSlot waits until the run streams from its slot, so events written
// afterwards are captured (snapshot: never starts at the slot's creation).
func waitSlot(ctx context.Context, t *testing.T, conn *pgx.Conn, slot string, run *runProc) {
	t.Helper()
	for {
		var active bool
		err := conn.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&active)
		if err == nil && active {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("slot %s never became active\n%s", slot, run.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropOutboxRun drops the run's slot once its walsender let go (polling
// pg_replication_slots.active), then its publication and outbox table.
func dropOutboxRun(t *testing.T, dsn, slot, table string) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer c.Close(ctx)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var active bool
		err := c.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) {
			break
		}
		if err == nil && !active {
			if _, err := c.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Logf("cleanup: slot %s still active after 15s", slot)
			break
		}
	}
	_, _ = c.Exec(ctx, "DROP PUBLICATION IF EXISTS "+slot)
	_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS "+table)
}
