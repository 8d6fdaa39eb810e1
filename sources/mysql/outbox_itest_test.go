package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox"
	"github.com/sluicehq/sluice/outbox/router"
)

// outboxFixture is an outbox table (the library's MySQL DDL) and a writer.
type outboxFixture struct {
	db    *sql.DB
	table string
	w     *outbox.Writer
}

func newOutbox(t *testing.T) *outboxFixture {
	t.Helper()
	db, full, _ := testDB(t)
	ddl, err := outbox.DDL(outbox.MySQL, full)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, ddl)
	w, err := outbox.New(outbox.WithDialect(outbox.MySQL), outbox.WithTable(full))
	if err != nil {
		t.Fatal(err)
	}
	return &outboxFixture{db: db, table: full, w: w}
}

// write writes evs in one transaction, committed or rolled back.
func (f *outboxFixture) write(t *testing.T, commit bool, evs ...outbox.Event) {
	t.Helper()
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.w.WriteSQL(context.Background(), tx, evs...); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (f *outboxFixture) source(t *testing.T, mut func(*Config)) *Source {
	t.Helper()
	rt, err := router.New(router.Config{Table: f.table, Columns: router.Columns{Extra: []string{"created_at"}}})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Split(f.table, ".")[1]
	return newTestSource(t, []string{f.table}, func(c *Config) {
		c.Pipeline = "obx-" + strings.ReplaceAll(name, "_", "-")
		c.Tables = nil
		c.Outbox = rt
		c.Snapshot = SnapshotNever
		if mut != nil {
			mut(c)
		}
	})
}

func header(r connectors.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// readEvents reads until done says so, returning every record and the
// position of each batch (after its records).
type readBatch struct {
	recs []connectors.Record
	pos  connectors.Position
}

func readEvents(t *testing.T, ctx context.Context, s *Source, done func([]connectors.Record) bool) []readBatch {
	t.Helper()
	var all []connectors.Record
	var out []readBatch
	for !done(all) {
		b, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v (after %d records)", err, len(all))
		}
		all = append(all, b.Records...)
		out = append(out, readBatch{recs: b.Records, pos: b.Position})
	}
	return out
}

func hasID(id string) func([]connectors.Record) bool {
	return func(rs []connectors.Record) bool {
		return slices.ContainsFunc(rs, func(r connectors.Record) bool { return header(r, "id") == id })
	}
}

func flatten(bs []readBatch) []connectors.Record {
	var out []connectors.Record
	for _, b := range bs {
		out = append(out, b.recs...)
	}
	return out
}

// TestOutboxRouting: an event appears iff its transaction commits; an
// insert updated and deleted in its own transaction routes once, from the
// insert; topic, key, value and headers follow CONTRACTS.md "Outbox".
func TestOutboxRouting(t *testing.T) {
	t.Parallel()
	f := newOutbox(t)
	s := f.source(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())

	f.write(t, true, outbox.Event{ID: "a", AggregateType: "order", AggregateID: "o-1", Type: "created",
		Payload: json.RawMessage(`{"n":1}`), Headers: map[string]string{"trace": "t1"}})
	f.write(t, false, outbox.Event{ID: "b", AggregateType: "order", AggregateID: "o-1", Type: "paid", Payload: json.RawMessage(`{"n":2}`)})
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.w.WriteSQL(ctx, tx, outbox.Event{ID: "c", AggregateType: "invoice", AggregateID: "i-9", Type: "sent", Payload: json.RawMessage(`[3]`)}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE " + f.table + " SET type = 'changed' WHERE id = 'c'", "DELETE FROM " + f.table + " WHERE id = 'c'"} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	f.write(t, true, outbox.Event{ID: "d", AggregateType: "order", AggregateID: "o-2", Type: "created", Payload: json.RawMessage(`{"n":4}`)})

	recs := flatten(readEvents(t, ctx, s, hasID("d")))
	var ids []string
	for _, r := range recs {
		ids = append(ids, header(r, "id"))
	}
	if strings.Join(ids, ",") != "a,c,d" {
		t.Fatalf("routed ids %v, want a,c,d (b rolled back; c once, from its insert)", ids)
	}
	a, c := recs[0], recs[1]
	if a.Topic != "outbox.event.order" || string(a.Key) != "o-1" || string(a.Value) != `{"n":1}` ||
		header(a, "type") != "created" || header(a, "trace") != "t1" || header(a, "created_at") == "" || a.Timestamp.IsZero() {
		t.Fatalf("event a: %+v", a)
	}
	if c.Topic != "outbox.event.invoice" || string(c.Key) != "i-9" || string(c.Value) != `[3]` || header(c, "type") != "sent" {
		t.Fatalf("event c: %+v", c)
	}
	if spec := s.TopicSpec("outbox.event.order"); spec.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("event topic spec %+v", spec)
	}
	if got := s.Topics(); len(got) != 0 {
		t.Fatalf("changelog topics %v: the outbox table has none", got)
	}
}

// TestOutboxConcurrentOrder: writers serialize per aggregate (a counter row
// locked FOR UPDATE, as an app would lock its aggregate); the routed events
// of each aggregate come in counter order, none missing.
func TestOutboxConcurrentOrder(t *testing.T) {
	t.Parallel()
	f := newOutbox(t)
	counters := f.table + "_n"
	t.Cleanup(func() { _, _ = f.db.Exec("DROP TABLE IF EXISTS " + counters) })
	exec(t, f.db, "CREATE TABLE "+counters+" (agg VARCHAR(20) PRIMARY KEY, n INT NOT NULL)",
		"INSERT INTO "+counters+" VALUES ('g0',0),('g1',0),('g2',0),('g3',0)")
	s := f.source(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())

	const writers, perWriter = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() { // owned by wg
			defer wg.Done()
			for i := range perWriter {
				agg := fmt.Sprintf("g%d", (w+i)%4)
				err := func() error {
					tx, err := f.db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					var n int
					if err := tx.QueryRowContext(ctx, "SELECT n FROM "+counters+" WHERE agg = ? FOR UPDATE", agg).Scan(&n); err != nil {
						return err
					}
					n++
					if _, err := tx.ExecContext(ctx, "UPDATE "+counters+" SET n = ? WHERE agg = ?", n, agg); err != nil {
						return err
					}
					if err := f.w.WriteSQL(ctx, tx, outbox.Event{AggregateType: "agg", AggregateID: agg, Type: "inc",
						Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}); err != nil {
						return err
					}
					return tx.Commit()
				}()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs := flatten(readEvents(t, ctx, s, func(rs []connectors.Record) bool { return len(rs) >= writers*perWriter }))
	last := map[string]int{}
	for _, r := range recs {
		var v struct{ N int }
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		k := string(r.Key)
		if v.N != last[k]+1 {
			t.Fatalf("aggregate %s: event %d after %d", k, v.N, last[k])
		}
		last[k] = v.N
	}
	if len(recs) != writers*perWriter {
		t.Fatalf("%d events, want %d", len(recs), writers*perWriter)
	}
}

// TestOutboxRestartAndCleanup: rows are deleted only once acknowledged; a
// restart from an acknowledged position re-delivers only what came after
// it, and loses nothing.
func TestOutboxRestartAndCleanup(t *testing.T) {
	t.Parallel()
	f := newOutbox(t)
	s := f.source(t, func(c *Config) { c.OutboxCleanup, c.OutboxCleanBatch = true, 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	rows := func() []string {
		t.Helper()
		rs, err := f.db.Query("SELECT id FROM " + f.table + " ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var ids []string
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	// One event per transaction, read one at a time: one position each.
	var positions []connectors.Position
	for i := range 10 {
		id := fmt.Sprintf("e%02d", i)
		f.write(t, true, outbox.Event{ID: id, AggregateType: "x", AggregateID: "k", Type: "t", Payload: json.RawMessage(`{}`)})
		bs := readEvents(t, ctx, s, hasID(id))
		positions = append(positions, bs[len(bs)-1].pos)
	}
	if got := rows(); len(got) != 10 {
		t.Fatalf("rows before any ack: %v, want all 10 (nothing is durable yet)", got)
	}
	if err := s.Ack(ctx, positions[3]); err != nil { // e00..e03 durable
		t.Fatal(err)
	}
	if got := strings.Join(rows(), ","); got != "e04,e05,e06,e07,e08,e09" {
		t.Fatalf("rows after acking e03: %s", got)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Restart from the acknowledged position: e04.. come again, plus a new one.
	s2 := f.source(t, func(c *Config) { c.OutboxCleanup, c.OutboxCleanBatch = true, 3 })
	if err := s2.Open(ctx, positions[3]); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	f.write(t, true, outbox.Event{ID: "e10", AggregateType: "x", AggregateID: "k", Type: "t", Payload: json.RawMessage(`{}`)})
	bs := readEvents(t, ctx, s2, hasID("e10"))
	var ids []string
	for _, r := range flatten(bs) {
		ids = append(ids, header(r, "id"))
	}
	if got := strings.Join(ids, ","); got != "e04,e05,e06,e07,e08,e09,e10" {
		t.Fatalf("after restart: %s, want e04..e10 exactly (only the unacknowledged, in order)", got)
	}
	if err := s2.Ack(ctx, bs[len(bs)-1].pos); err != nil {
		t.Fatal(err)
	}
	if got := rows(); len(got) != 0 {
		t.Fatalf("rows after acking everything: %v", got)
	}
}
