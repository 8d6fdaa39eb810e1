package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
// and routes what the real Postgres source captures of the outbox table
// through outbox/router, as the source will once it calls the router itself
// (this build's source does not yet; see outbox/router's doc). It checks:
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
