package outbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/itest"
	"github.com/sluicehq/sluice/outbox"
	"github.com/sluicehq/sluice/outbox/router"
)

func events(n int, agg string) []outbox.Event {
	evs := make([]outbox.Event, n)
	for i := range evs {
		evs[i] = outbox.Event{AggregateType: "order", AggregateID: agg, Type: "Placed",
			Payload: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i+1)), Headers: map[string]string{"trace": "t" + strconv.Itoa(i)}}
	}
	return evs
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []outbox.Option
		ok   bool
	}{
		{"defaults", nil, true},
		{"mysql table", []outbox.Option{outbox.WithDialect(outbox.MySQL), outbox.WithTable("sluice.outbox")}, true},
		{"postgres message", []outbox.Option{outbox.WithMode(outbox.MessageMode), outbox.WithPrefix("p")}, true},
		{"mysql message", []outbox.Option{outbox.WithDialect(outbox.MySQL), outbox.WithMode(outbox.MessageMode)}, false},
		{"empty prefix", []outbox.Option{outbox.WithMode(outbox.MessageMode), outbox.WithPrefix("")}, false},
		{"bad table", []outbox.Option{outbox.WithTable("a.b.c")}, false},
		{"empty column", []outbox.Option{outbox.WithColumns(outbox.Columns{ID: "id"})}, false},
		{"unknown dialect", []outbox.Option{outbox.WithDialect(9)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := outbox.New(tc.opts...)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, outbox.ErrConfig)) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestInvalidEvents(t *testing.T) {
	t.Parallel()
	w := must(outbox.New())(t)
	noHeaders := must(outbox.New(outbox.WithColumns(outbox.Columns{ID: "id", AggregateType: "a", AggregateID: "b", Type: "c", Payload: "d"})))(t)
	ok := outbox.Event{AggregateType: "a", AggregateID: "1", Type: "t", Payload: json.RawMessage(`{}`)}
	cases := []struct {
		name  string
		w     *outbox.Writer
		edit  func(*outbox.Event)
		field string
	}{
		{"no aggregate type", w, func(e *outbox.Event) { e.AggregateType = "" }, "events[1].AggregateType"},
		{"no aggregate id", w, func(e *outbox.Event) { e.AggregateID = "" }, "events[1].AggregateID"},
		{"no type", w, func(e *outbox.Event) { e.Type = "" }, "events[1].Type"},
		{"no payload", w, func(e *outbox.Event) { e.Payload = nil }, "events[1].Payload"},
		{"payload not JSON", w, func(e *outbox.Event) { e.Payload = json.RawMessage(`{`) }, "events[1].Payload"},
		{"headers without column", noHeaders, func(e *outbox.Event) { e.Headers = map[string]string{"a": "b"} }, "events[1].Headers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := ok
			tc.edit(&bad)
			// A nil transaction: validation fails before any statement runs.
			err := tc.w.WriteSQL(context.Background(), nil, ok, bad)
			if !errors.Is(err, outbox.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want ErrInvalidEvent naming %s", err, tc.field)
			}
		})
	}
}

func TestDDLAndContent(t *testing.T) {
	t.Parallel()
	pg := must(outbox.DDL(outbox.Postgres, "app.outbox"))(t)
	my := must(outbox.DDL(outbox.MySQL, "outbox"))(t)
	for _, want := range []string{`CREATE TABLE IF NOT EXISTS "app"."outbox"`, "id            uuid", "payload       jsonb", "headers       jsonb"} {
		if !strings.Contains(pg, want) {
			t.Errorf("postgres DDL lacks %q:\n%s", want, pg)
		}
	}
	for _, want := range []string{"CREATE TABLE IF NOT EXISTS `outbox`", "CHAR(36)", "JSON         NOT NULL"} {
		if !strings.Contains(my, want) {
			t.Errorf("mysql DDL lacks %q:\n%s", want, my)
		}
	}
	if _, err := outbox.DDL(outbox.Postgres, ""); !errors.Is(err, outbox.ErrConfig) {
		t.Errorf("empty table: %v", err)
	}
	c := must(outbox.MessageContent(outbox.Event{ID: "i", AggregateType: "a", AggregateID: "k", Type: "t", Payload: json.RawMessage(`{"x": 1}`)}))(t)
	if string(c) != `{"id":"i","aggregatetype":"a","aggregateid":"k","type":"t","payload":{"x":1}}` {
		t.Errorf("content %s", c)
	}
}

func countRows(t *testing.T, q func(string) *sql.Row, table string) int {
	t.Helper()
	var n int
	if err := q("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPostgresTableMode: rows exist iff the transaction commits, for pgx and
// database/sql, and a Write larger than MaxBatch spans several statements
// of the same transaction.
func TestPostgresTableMode(t *testing.T) {
	t.Parallel()
	c := pgConn(t)
	table := pgTable(t, c)
	ctx := ctxT(t)
	w := must(outbox.New(outbox.WithTable(table)))(t)

	tx := must(c.Begin(ctx))(t)
	committed := events(3, "a1")
	if err := w.Write(ctx, tx, committed...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx = must(c.Begin(ctx))(t)
	if err := w.Write(ctx, tx, events(2, "rolled")...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	db := must(sql.Open("pgx", itest.Need(t, itest.Postgres)))(t)
	defer db.Close()
	stx := must(db.BeginTx(ctx, nil))(t)
	big := events(outbox.MaxBatch*2+5, "big")
	if err := w.WriteSQL(ctx, stx, big...); err != nil {
		t.Fatal(err)
	}
	if err := stx.Commit(); err != nil {
		t.Fatal(err)
	}
	stx = must(db.BeginTx(ctx, nil))(t)
	if err := w.WriteSQL(ctx, stx, events(4, "rolled")...); err != nil {
		t.Fatal(err)
	}
	_ = stx.Rollback()

	q := func(s string) *sql.Row { return db.QueryRowContext(ctx, s) }
	if n := countRows(t, q, table); n != 3+len(big) {
		t.Fatalf("%d rows, want %d (rolled-back events must not exist)", n, 3+len(big))
	}
	// The committed events read back as written, IDs assigned in place.
	rows := must(c.Query(ctx, "SELECT id::text, aggregatetype, aggregateid, type, payload::text, headers->>'trace' FROM "+table+" WHERE aggregateid = 'a1' ORDER BY id"))(t)
	var got []string
	for rows.Next() {
		var id, at, ai, ty, p, tr string
		if err := rows.Scan(&id, &at, &ai, &ty, &p, &tr); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{id, at, ai, ty, p, tr}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i, e := range committed {
		want := strings.Join([]string{e.ID, "order", "a1", "Placed", fmt.Sprintf(`{"seq": %d}`, i+1), "t" + strconv.Itoa(i)}, "|")
		if i >= len(got) || got[i] != want {
			t.Fatalf("row %d = %q, want %q (UUIDv7 ids sort in write order)", i, got, want)
		}
	}

	// Cleanup of routed rows through router.Cleaner on the real table.
	cl := must(router.NewCleaner(router.CleanerConfig{Table: table, Dialect: router.Postgres, BatchSize: 700,
		Exec: func(ctx context.Context, q string, args ...any) error { _, err := c.Exec(ctx, q, args...); return err }}))(t)
	for _, e := range big {
		cl.Add(1, e.ID)
	}
	cl.Add(2, committed[0].ID)
	if err := cl.Ack(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, q, table); n != 3 || cl.Pending() != 1 {
		t.Fatalf("after cleaning: %d rows, %d pending; want 3 rows, 1 pending", n, cl.Pending())
	}
}

func TestMySQLTableMode(t *testing.T) {
	t.Parallel()
	db := mysqlDB(t)
	ctx := ctxT(t)
	table := uniq("outbox_t")
	ddl := must(outbox.DDL(outbox.MySQL, table))(t)
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+table) })
	w := must(outbox.New(outbox.WithDialect(outbox.MySQL), outbox.WithTable(table)))(t)

	tx := must(db.BeginTx(ctx, nil))(t)
	committed := events(outbox.MaxBatch+3, "m1")
	if err := w.WriteSQL(ctx, tx, committed...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx = must(db.BeginTx(ctx, nil))(t)
	if err := w.WriteSQL(ctx, tx, events(5, "rolled")...); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	q := func(s string) *sql.Row { return db.QueryRowContext(ctx, s) }
	if n := countRows(t, q, table); n != len(committed) {
		t.Fatalf("%d rows, want %d", n, len(committed))
	}
	var id, payload, trace string
	if err := db.QueryRowContext(ctx, "SELECT id, payload, JSON_UNQUOTE(JSON_EXTRACT(headers, '$.trace')) FROM "+table+" ORDER BY id LIMIT 1").Scan(&id, &payload, &trace); err != nil {
		t.Fatal(err)
	}
	if id != committed[0].ID || !strings.Contains(payload, `"seq"`) || !strings.Contains(payload, "1") || trace != "t0" {
		t.Fatalf("first row %s %s %s, want %s", id, payload, trace, committed[0].ID)
	}
	if err := w.Write(ctx, nil, committed[0]); !errors.Is(err, outbox.ErrConfig) {
		t.Fatalf("pgx Write with the mysql dialect: %v", err)
	}
	cl := must(router.NewCleaner(router.CleanerConfig{Table: table, Dialect: router.MySQL,
		Exec: func(ctx context.Context, q string, args ...any) error {
			_, err := db.ExecContext(ctx, q, args...)
			return err
		}}))(t)
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = committed[i].ID
	}
	if _, err := cl.Delete(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, q, table); n != len(committed)-10 {
		t.Fatalf("%d rows after deleting 10", n)
	}
}

// slot is a temporary test_decoding slot on its own connection; Postgres
// drops it when the connection closes.
type slot struct {
	c    *pgx.Conn
	name string
}

func newSlot(t *testing.T) *slot {
	t.Helper()
	c := pgConn(t)
	s := &slot{c: c, name: uniq("outbox_slot")}
	if _, err := c.Exec(ctxT(t), "SELECT pg_create_logical_replication_slot($1, 'test_decoding', true)", s.name); err != nil {
		t.Fatal(err)
	}
	return s
}

// changes consumes the slot's changes, as test_decoding text lines.
func (s *slot) changes(t *testing.T) []string {
	t.Helper()
	rows := must(s.c.Query(ctxT(t), "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)", s.name))(t)
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPostgresMessageMode: the messages are transactional (a rolled-back
// transaction leaves none in the WAL), in write order, and route through
// router.RouteMessage to the contract's records.
func TestPostgresMessageMode(t *testing.T) {
	t.Parallel()
	s := newSlot(t)
	c := pgConn(t)
	ctx := ctxT(t)
	prefix := uniq("test.outbox")
	w := must(outbox.New(outbox.WithMode(outbox.MessageMode), outbox.WithPrefix(prefix)))(t)

	tx := must(c.Begin(ctx))(t)
	committed := events(3, "msg1")
	if err := w.Write(ctx, tx, committed...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx = must(c.Begin(ctx))(t)
	if err := w.Write(ctx, tx, events(2, "rolled")...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	db := must(sql.Open("pgx", itest.Need(t, itest.Postgres)))(t)
	defer db.Close()
	stx := must(db.BeginTx(ctx, nil))(t)
	viaSQL := events(1, "msg2")
	if err := w.WriteSQL(ctx, stx, viaSQL...); err != nil {
		t.Fatal(err)
	}
	if err := stx.Commit(); err != nil {
		t.Fatal(err)
	}

	r := must(router.New(router.Config{Prefix: prefix}))(t)
	msgRE := regexp.MustCompile(`^message: transactional: (\d) prefix: ([^,]*), sz: \d+ content:(.*)$`)
	var got []string
	for _, line := range s.changes(t) {
		m := msgRE.FindStringSubmatch(line)
		if m == nil || m[2] != prefix {
			continue
		}
		if m[1] != "1" {
			t.Fatalf("non-transactional message: %s", line)
		}
		rec, ok, err := r.RouteMessage(m[2], []byte(m[3]))
		if !ok || err != nil {
			t.Fatalf("routing %s: %v %v", line, ok, err)
		}
		id, _ := rec.Header("id")
		got = append(got, rec.Topic+"|"+string(rec.Key)+"|"+string(rec.Value)+"|"+string(id))
	}
	var want []string
	for _, e := range append(committed, viaSQL...) {
		want = append(want, "outbox.event.order|"+e.AggregateID+"|"+string(e.Payload)+"|"+e.ID)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("routed messages:\n%s\nwant (committed only, in order):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConcurrentWritersKeepAggregateOrder: writers on different connections
// each write one aggregate's events in successive transactions; in the WAL
// (what the source routes, in commit order) every aggregate's events appear
// in sequence.
func TestConcurrentWritersKeepAggregateOrder(t *testing.T) {
	t.Parallel()
	s := newSlot(t)
	setup := pgConn(t)
	table := pgTable(t, setup)
	w := must(outbox.New(outbox.WithTable(table)))(t)
	const writers, perWriter = 4, 25
	conns := make([]*pgx.Conn, writers)
	for i := range conns {
		conns[i] = pgConn(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 1; i <= perWriter; i++ {
				e := outbox.Event{AggregateType: "order", AggregateID: fmt.Sprintf("agg-%d", g), Type: "Seq",
					Payload: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i))}
				err := pgx.BeginFunc(ctx, conns[g], func(tx pgx.Tx) error { return w.Write(ctx, tx, e) })
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
	_, bare, _ := strings.Cut(table, ".")
	insRE := regexp.MustCompile(`^table public\.` + regexp.QuoteMeta(bare) + `: INSERT: .*aggregateid\[text\]:'([^']*)'.*payload\[jsonb\]:'\{"seq": (\d+)\}'`)
	last := map[string]int{}
	n := 0
	for _, line := range s.changes(t) {
		m := insRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		seq, _ := strconv.Atoi(m[2])
		if seq != last[m[1]]+1 {
			t.Fatalf("aggregate %s: seq %d after %d in WAL order", m[1], seq, last[m[1]])
		}
		last[m[1]] = seq
		n++
	}
	if n != writers*perWriter {
		t.Fatalf("%d inserts in the WAL, want %d", n, writers*perWriter)
	}
}

// TestPostgresMessageModeThroughPgoutput: what the Postgres source will see.
// pgoutput (proto_version 1 with messages 'true', Postgres 14+) hands the
// messages over as LogicalDecodingMessage, transactional, in write order,
// and only for committed transactions; their content routes.
func TestPostgresMessageModeThroughPgoutput(t *testing.T) {
	t.Parallel()
	c := pgConn(t)
	ctx := ctxT(t)
	table := pgTable(t, c) // a publication needs a table; messages ignore it
	pub, slotName := uniq("outbox_pub"), uniq("outbox_pgo")
	if _, err := c.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Exec(context.Background(), "DROP PUBLICATION IF EXISTS "+pub) })
	sc := pgConn(t)
	if _, err := sc.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput', true)", slotName); err != nil {
		t.Fatal(err)
	}
	prefix := uniq("pgo.outbox")
	w := must(outbox.New(outbox.WithMode(outbox.MessageMode), outbox.WithPrefix(prefix)))(t)
	committed := events(2, "p1")
	if err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error { return w.Write(ctx, tx, committed...) }); err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("roll back")
	if err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if err := w.Write(ctx, tx, events(1, "rolled")...); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	rows := must(sc.Query(ctx, "SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2, 'messages', 'true')", slotName, pub))(t)
	r := must(router.New(router.Config{Prefix: prefix}))(t)
	var got []string
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := msg.(*pglogrepl.LogicalDecodingMessage)
		if !ok || m.Prefix != prefix {
			continue
		}
		if !m.Transactional {
			t.Fatalf("message at %s not transactional", m.LSN)
		}
		rec, ok, err := r.RouteMessage(m.Prefix, m.Content)
		if !ok || err != nil {
			t.Fatalf("routing: %v %v", ok, err)
		}
		id, _ := rec.Header("id")
		got = append(got, string(id))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := committed[0].ID + "," + committed[1].ID; strings.Join(got, ",") != want {
		t.Fatalf("routed ids %v, want %s (committed only, in order)", got, want)
	}
}
