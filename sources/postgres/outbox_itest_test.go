package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox/router"
)

// readOutbox reads and acks batches until n records of topics with prefix
// arrived, returning every record read (changelog records too).
func readOutbox(t *testing.T, s *Source, want func([]connectors.Record) bool) []connectors.Record {
	t.Helper()
	var all []connectors.Record
	for deadline := time.Now().Add(30 * time.Second); !want(all); {
		if time.Now().After(deadline) {
			t.Fatalf("outbox records not read within 30s; got %d: %v", len(all), topicsOf(all))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		b, err := s.Read(ctx)
		cancel()
		if err == context.DeadlineExceeded {
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		all = append(all, b.Records...)
		if b.Position != nil {
			if err := s.Ack(context.Background(), b.Position); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
	}
	return all
}

func topicsOf(recs []connectors.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Topic+"/"+string(r.Key))
	}
	return out
}

func events(recs []connectors.Record) []string {
	var out []string
	for _, r := range recs {
		if id, ok := r.Header("id"); ok {
			out = append(out, fmt.Sprintf("%s %s %s %s", r.Topic, r.Key, id, r.Value))
		}
	}
	return out
}

// TestOutboxTableMode: inserts into the outbox table route to event topics
// in commit order, with the commit time; rolled-back events never appear;
// a row deleted in its own transaction still routes; the outbox table gets
// no changelog records and no snapshot.
func TestOutboxTableMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	orders, obx := e.table("orders"), e.table("outbox")
	e.exec("CREATE TABLE " + orders + " (id int PRIMARY KEY, v text)")
	e.exec("CREATE TABLE " + obx + ` (id uuid PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL,
		type text NOT NULL, payload jsonb NOT NULL, headers jsonb)`)
	// Present before the slot: must not be snapshotted.
	e.exec("INSERT INTO " + obx + ` VALUES ('00000000-0000-0000-0000-000000000000', 'order', 'old', 'x', '{}', NULL)`)
	rt, err := router.New(router.Config{Table: "public." + obx})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config("public." + orders)
	cfg.Outbox = rt
	s := e.open(cfg, nil)

	ins := func(n int) string {
		return fmt.Sprintf(`INSERT INTO %s VALUES ('00000000-0000-0000-0000-%012d', 'order', 'o%d', 'created', '{"n":%d}', '{"trace":"t%d"}')`, obx, n, n%2, n, n)
	}
	ctx := context.Background()
	tx := func(rollback bool, stmts ...string) {
		t.Helper()
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if rollback {
			err = tx.Rollback(ctx)
		} else {
			err = tx.Commit(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tx(false, "INSERT INTO "+orders+" VALUES (1, 'a')", ins(1))
	tx(true, "INSERT INTO "+orders+" VALUES (2, 'b')", ins(2))
	tx(false, ins(3), fmt.Sprintf("DELETE FROM %s WHERE id = '00000000-0000-0000-0000-000000000003'", obx))
	tx(false, fmt.Sprintf("UPDATE %s SET type = 'changed' WHERE aggregateid = 'o1'", obx), ins(4))

	isEvent := func(r connectors.Record) bool { _, ok := r.Header("id"); return ok }
	recs := readOutbox(t, s, func(all []connectors.Record) bool {
		n := 0
		for _, r := range all {
			if isEvent(r) {
				n++
			}
		}
		return n >= 3
	})
	got := events(recs)
	want := []string{
		`outbox.event.order o1 00000000-0000-0000-0000-000000000001 {"n": 1}`,
		`outbox.event.order o1 00000000-0000-0000-0000-000000000003 {"n": 3}`,
		`outbox.event.order o0 00000000-0000-0000-0000-000000000004 {"n": 4}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	for _, r := range recs {
		if r.Topic == e.name+".public."+obx {
			t.Errorf("changelog record for the outbox table: %s", r.Value)
		}
		if isEvent(r) {
			if r.Timestamp.IsZero() || time.Since(r.Timestamp) > time.Minute {
				t.Errorf("event timestamp %v is not the commit time", r.Timestamp)
			}
			if tr, _ := r.Header("trace"); len(tr) == 0 {
				t.Errorf("event %s lost its headers: %v", r.Key, r.Headers)
			}
		}
	}
}

// TestOutboxMessageMode: transactional messages with the prefix route;
// rolled-back, non-transactional and other-prefix messages do not; no
// tables need be configured.
func TestOutboxMessageMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Messages are database-wide: a prefix of its own keeps parallel
	// tests' messages out.
	prefix := "app.outbox." + e.suffix
	rt, err := router.New(router.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Outbox = rt
	s := e.open(cfg, nil)
	msg := func(n int) string {
		return fmt.Sprintf(`{"id":"e%d","aggregatetype":"cart","aggregateid":"c%d","type":"added","payload":{"n":%d}}`, n, n%2, n)
	}
	ctx := context.Background()
	emit := func(transactional bool, prefix, content string, rollback bool) {
		t.Helper()
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT pg_logical_emit_message($1, $2, $3)", transactional, prefix, content); err != nil {
			t.Fatal(err)
		}
		if rollback {
			err = tx.Rollback(ctx)
		} else {
			err = tx.Commit(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	emit(true, prefix, msg(1), false)
	emit(true, prefix, msg(2), true)
	emit(false, prefix, msg(3), false)
	emit(true, "other", msg(4), false)
	emit(true, prefix, msg(5), false)
	recs := readOutbox(t, s, func(all []connectors.Record) bool { return len(events(all)) >= 2 })
	got := events(recs)
	want := []string{`outbox.event.cart c1 e1 {"n":1}`, `outbox.event.cart c1 e5 {"n":5}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

// TestOutboxResumeInsideTransaction: a transaction of 10 events is cut into
// batches of 3; reopening from the first batch's position (inside the
// transaction) delivers exactly the 7 events after it, in both modes.
func TestOutboxResumeInsideTransaction(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"table", "message"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config()
			cfg.MaxBatch = 3
			const ev = `'{"id":"e' || g || '","aggregatetype":"a","aggregateid":"k","type":"t","payload":{"n":' || g || '}}'`
			prefix := "app.outbox." + e.suffix // messages are database-wide
			write := "SELECT pg_logical_emit_message(true, '" + prefix + "', " + ev + ") FROM generate_series(1, 10) g"
			rc := router.Config{Prefix: prefix}
			if mode == "table" {
				obx := e.table("outbox")
				e.exec("CREATE TABLE " + obx + ` (id text PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL,
					type text NOT NULL, payload jsonb NOT NULL)`)
				write = "INSERT INTO " + obx + ` SELECT 'e' || g, 'a', 'k', 't', jsonb_build_object('n', g) FROM generate_series(1, 10) g`
				rc = router.Config{Table: obx}
			}
			rt, err := router.New(rc)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Outbox = rt
			s := e.open(cfg, nil)
			e.exec(write)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var b connectors.Batch
			for len(b.Records) == 0 {
				if b, err = s.Read(ctx); err != nil {
					t.Fatalf("Read: %v", err)
				}
			}
			if got := events(b.Records); len(got) != 3 || !strings.Contains(got[0], " e1 ") {
				t.Fatalf("first batch %q, want e1..e3", got)
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			s2 := e.open(cfg, b.Position)
			got := events(readOutbox(t, s2, func(all []connectors.Record) bool { return len(all) >= 7 }))
			var want []string
			for n := 4; n <= 10; n++ {
				want = append(want, fmt.Sprintf(`outbox.event.a k e%d {"n": %d}`, n, n))
			}
			if mode == "message" {
				for i := range want {
					want[i] = strings.Replace(want[i], `": `, `":`, 1)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after resuming:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestOutboxBadEventFailsStream: an event the router rejects fails the
// stream with an error naming it; it is never dropped silently.
func TestOutboxBadEventFailsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prefix := "app.outbox." + e.suffix // messages are database-wide
	rt, err := router.New(router.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Outbox = rt
	s := e.open(cfg, nil)
	e.exec(`SELECT pg_logical_emit_message(true, $1, '{"id":"e1","aggregatetype":"a"}')`, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		b, err := s.Read(ctx)
		if err != nil {
			if !errors.Is(err, ErrDecode) || !errors.Is(err, router.ErrInvalidEvent) && !errors.Is(err, router.ErrMissingColumn) {
				t.Fatalf("Read: %v, want ErrDecode wrapping the router's error", err)
			}
			return
		}
		if len(b.Records) > 0 {
			t.Fatalf("the bad event produced records: %v", topicsOf(b.Records))
		}
	}
}

// TestOutboxPublicationTables: the outbox table joins the publication
// beside the tables; a pipeline turned message-only empties it.
func TestOutboxPublicationTables(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	orders, obx := e.table("orders"), e.table("outbox")
	e.exec("CREATE TABLE " + orders + " (id int PRIMARY KEY)")
	e.exec("CREATE TABLE " + obx + " (id text PRIMARY KEY)")
	published := func() []string {
		rows, err := e.pool.Query(context.Background(), "SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY tablename", "sluice_"+e.name)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var n string
			_ = rows.Scan(&n)
			out = append(out, n)
		}
		rows.Close()
		return out
	}
	open := func(cfg Config) {
		t.Helper()
		cfg.Snapshot = SnapshotNever
		s := e.open(cfg, nil)
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := e.config("public." + orders)
	cfg.Outbox, _ = router.New(router.Config{Table: obx})
	open(cfg)
	if got, want := fmt.Sprint(published()), fmt.Sprint([]string{orders, obx}); got != want { // ORDER BY tablename
		t.Fatalf("table mode publishes %s, want %s", got, want)
	}
	cfg = e.config()
	cfg.Outbox, _ = router.New(router.Config{Prefix: "p"})
	open(cfg)
	if got := published(); len(got) != 0 {
		t.Fatalf("message mode without tables publishes %v, want none", got)
	}
}

// TestOutboxCleanup: with OutboxCleanup, a routed row is deleted only after
// the position of the batch that carried it is acknowledged; rows of
// unacknowledged transactions stay; a restart from the acknowledged
// position re-delivers only the unacknowledged events, whose rows go at
// their own ack; DELETEs remove at most OutboxCleanBatch rows each.
func TestOutboxCleanup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	obx, dels := e.table("outbox"), e.table("outbox_dels")
	e.exec("CREATE TABLE " + obx + ` (id uuid PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL,
		type text NOT NULL, payload jsonb NOT NULL)`)
	// Every DELETE statement on the outbox logs how many rows it removed.
	e.exec("CREATE TABLE " + dels + " (n int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
	e.exec(fmt.Sprintf(`CREATE FUNCTION %[1]s_f() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO %[1]s (n) SELECT count(*) FROM gone; RETURN NULL; END $$`, dels))
	e.exec(fmt.Sprintf(`CREATE TRIGGER %[1]s_t AFTER DELETE ON %[2]s REFERENCING OLD TABLE AS gone
		FOR EACH STATEMENT EXECUTE FUNCTION %[1]s_f()`, dels, obx))
	t.Cleanup(func() { _, _ = e.pool.Exec(context.Background(), "DROP FUNCTION IF EXISTS "+dels+"_f() CASCADE") })
	rt, err := router.New(router.Config{Table: "public." + obx})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Outbox, cfg.OutboxCleanup, cfg.OutboxCleanBatch = rt, true, 2
	s := e.open(cfg, nil)

	id := func(n int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", n) }
	insert := func(from, to int) {
		t.Helper()
		e.exec(fmt.Sprintf(`INSERT INTO %s SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid,
			'order', 'o' || g, 'created', jsonb_build_object('n', g) FROM generate_series(%d, %d) g`, obx, from, to))
	}
	left := func() []string { t.Helper(); return outboxIDs(t, e, obx) }
	ids := func(ns ...int) []string {
		var out []string
		for _, n := range ns {
			out = append(out, id(n))
		}
		return out
	}
	read := func(s *Source, n int) ([]string, connectors.Position) { t.Helper(); return readEventIDs(t, s, n) }
	waitLeft := func(want []string) { t.Helper(); waitOutboxIDs(t, e, obx, want) }

	insert(1, 3)
	got1, p1 := read(s, 3)
	insert(4, 5)
	got2, _ := read(s, 2)
	if fmt.Sprint(got1, got2) != fmt.Sprint(ids(1, 2, 3), ids(4, 5)) {
		t.Fatalf("events %q %q, want 1..3 then 4..5", got1, got2)
	}
	// Read but unacknowledged: nothing may be deleted.
	if got := left(); fmt.Sprint(got) != fmt.Sprint(ids(1, 2, 3, 4, 5)) {
		t.Fatalf("before any ack, rows %q, want all five", got)
	}
	if err := s.Ack(context.Background(), p1); err != nil {
		t.Fatal(err)
	}
	waitLeft(ids(4, 5)) // the second transaction is not acknowledged: its rows stay
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Restart from the acknowledged position: only 4 and 5 come again.
	s2 := e.open(cfg, p1)
	got3, p3 := read(s2, 2)
	if fmt.Sprint(got3) != fmt.Sprint(ids(4, 5)) {
		t.Fatalf("after restart, events %q, want only the unacknowledged 4, 5", got3)
	}
	if got := left(); fmt.Sprint(got) != fmt.Sprint(ids(4, 5)) {
		t.Fatalf("after restart, before the ack, rows %q, want 4, 5", got)
	}
	if err := s2.Ack(context.Background(), p3); err != nil {
		t.Fatal(err)
	}
	waitLeft(nil)

	// Batched: 3 rows in DELETEs of at most 2, then 2 rows in one.
	rows, err := e.pool.Query(context.Background(), "SELECT n FROM "+dels+" ORDER BY at")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sizes []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	if fmt.Sprint(sizes) != "[2 1 2]" {
		t.Fatalf("DELETE sizes %v, want [2 1 2]", sizes)
	}
}

// outboxIDs lists the ids left in the outbox table.
func outboxIDs(t *testing.T, e *pgEnv, obx string) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT id::text FROM "+obx+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// waitOutboxIDs waits until exactly want rows remain (the DELETE runs on
// the cleanup goroutine after Ack).
func waitOutboxIDs(t *testing.T, e *pgEnv, obx string, want []string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); fmt.Sprint(outboxIDs(t, e, obx)) != fmt.Sprint(want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("outbox rows: got %q, want %q", outboxIDs(t, e, obx), want)
		}
	}
}

// readEventIDs reads without acking until n events arrived; returns their
// ids and the last batch's position (the commit of the last transaction).
func readEventIDs(t *testing.T, s *Source, n int) ([]string, connectors.Position) {
	t.Helper()
	var got []string
	var pos connectors.Position
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < n {
		b, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("Read (got %q): %v", got, err)
		}
		for _, r := range b.Records {
			if v, ok := r.Header("id"); ok {
				got = append(got, string(v))
			}
		}
		if b.Position != nil {
			pos = b.Position
		}
	}
	return got, pos
}

// warnSignal is a slog handler that signals each warning whose message
// contains msg.
type warnSignal struct {
	msg string
	ch  chan struct{}
}

func (h *warnSignal) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *warnSignal) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *warnSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnSignal) WithGroup(string) slog.Handler      { return h }

// TestOutboxCleanupFailureRetried: a DELETE that fails is logged, does not
// stop the stream, and its rows go at the next Ack.
func TestOutboxCleanupFailureRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	obx, blk := e.table("outbox"), e.table("outbox_block")
	e.exec("CREATE TABLE " + obx + ` (id text PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL,
		type text NOT NULL, payload jsonb NOT NULL)`)
	// While blk has a row, every DELETE on the outbox fails.
	e.exec("CREATE TABLE " + blk + " (b int)")
	e.exec(fmt.Sprintf(`CREATE FUNCTION %[1]s_f() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF EXISTS (SELECT 1 FROM %[1]s) THEN RAISE EXCEPTION 'cleanup blocked'; END IF; RETURN NULL; END $$`, blk))
	e.exec(fmt.Sprintf(`CREATE TRIGGER %[1]s_t BEFORE DELETE ON %[2]s FOR EACH STATEMENT EXECUTE FUNCTION %[1]s_f()`, blk, obx))
	t.Cleanup(func() { _, _ = e.pool.Exec(context.Background(), "DROP FUNCTION IF EXISTS "+blk+"_f() CASCADE") })
	rt, err := router.New(router.Config{Table: "public." + obx})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Outbox, cfg.OutboxCleanup = rt, true
	warned := &warnSignal{msg: "outbox cleanup failed", ch: make(chan struct{}, 1)}
	s, err := New(cfg, WithLogger(slog.New(warned)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ins := func(id string) {
		e.exec("INSERT INTO "+obx+" VALUES ($1, 'order', 'o', 'created', '{}')", id)
	}

	ins("e1")
	_, p1 := readEventIDs(t, s, 1)
	e.exec("INSERT INTO " + blk + " VALUES (1)")
	if err := s.Ack(ctx, p1); err != nil {
		t.Fatalf("Ack with a failing cleanup: %v", err)
	}
	select {
	case <-warned.ch:
	case <-ctx.Done():
		t.Fatal("no warning for the failed DELETE")
	}
	if got := outboxIDs(t, e, obx); fmt.Sprint(got) != "[e1]" {
		t.Fatalf("after the failed DELETE, rows %q, want [e1]", got)
	}
	e.exec("DELETE FROM " + blk)
	ins("e2")
	got, p2 := readEventIDs(t, s, 1) // the stream goes on
	if fmt.Sprint(got) != "[e2]" {
		t.Fatalf("events after the failed cleanup %q, want [e2]", got)
	}
	if err := s.Ack(ctx, p2); err != nil {
		t.Fatal(err)
	}
	waitOutboxIDs(t, e, obx, nil) // e1 retried with e2
}

// TestOutboxCleanupResumeInsideTransaction: a transaction cut into batches
// keeps its rows until its commit is acked, even when a batch inside it is;
// resuming inside it, the rows routed before the resume point are deleted
// with the rest at the commit's ack.
func TestOutboxCleanupResumeInsideTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	obx := e.table("outbox")
	e.exec("CREATE TABLE " + obx + ` (id text PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL,
		type text NOT NULL, payload jsonb NOT NULL)`)
	rt, err := router.New(router.Config{Table: "public." + obx})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Outbox, cfg.OutboxCleanup, cfg.MaxBatch = rt, true, 2
	s := e.open(cfg, nil)
	e.exec("INSERT INTO " + obx + ` SELECT 'e' || g, 'a', 'k', 't', '{}' FROM generate_series(1, 3) g`)
	got, mid := readEventIDs(t, s, 2)
	if fmt.Sprint(got) != "[e1 e2]" {
		t.Fatalf("first batch %q, want [e1 e2]", got)
	}
	if err := s.Ack(context.Background(), mid); err != nil {
		t.Fatal(err)
	}
	// The ack inside the transaction deletes nothing; Close waits for the
	// cleanup goroutine, so a wrong DELETE would have run by now or never.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := outboxIDs(t, e, obx); fmt.Sprint(got) != "[e1 e2 e3]" {
		t.Fatalf("after an ack inside the transaction, rows %q, want all three", got)
	}
	s2 := e.open(cfg, mid)
	got, end := readEventIDs(t, s2, 1)
	if fmt.Sprint(got) != "[e3]" {
		t.Fatalf("after resuming, events %q, want [e3]", got)
	}
	if err := s2.Ack(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	waitOutboxIDs(t, e, obx, nil)
}

// TestOutboxCleanupWarnsWithoutReplicaIdentity: Open warns when the outbox
// table has no primary key (its DELETEs would be refused while published);
// with one it does not.
func TestOutboxCleanupWarnsWithoutReplicaIdentity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, key string
		warn      bool
	}{{"no key", "", true}, {"primary key", " PRIMARY KEY", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			obx := e.table("outbox")
			e.exec("CREATE TABLE " + obx + ` (id text` + tc.key + `, aggregatetype text NOT NULL, aggregateid text NOT NULL,
				type text NOT NULL, payload jsonb NOT NULL)`)
			rt, err := router.New(router.Config{Table: "public." + obx})
			if err != nil {
				t.Fatal(err)
			}
			cfg := e.config()
			cfg.Outbox, cfg.OutboxCleanup = rt, true
			warned := &warnSignal{msg: "no replica identity", ch: make(chan struct{}, 1)}
			s, err := New(cfg, WithLogger(slog.New(warned)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Open(ctx, nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			select {
			case <-warned.ch: // Open logs it before returning
				if !tc.warn {
					t.Fatal("warned about a table with a primary key")
				}
			default:
				if tc.warn {
					t.Fatal("no warning about the missing replica identity")
				}
			}
		})
	}
}
