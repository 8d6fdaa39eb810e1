package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/itest"
)

// pgEnv is one test's database objects: unique tables, slot and
// publication, dropped after the test.
type pgEnv struct {
	t      *testing.T
	dsn    string
	pool   *pgxpool.Pool
	suffix string
	name   string // pipeline name
}

func newEnv(t *testing.T) *pgEnv {
	t.Helper()
	dsn := itest.Need(t, itest.Postgres)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	e := &pgEnv{t: t, dsn: dsn, pool: pool, suffix: fmt.Sprintf("%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1e6))}
	e.name = "t" + e.suffix
	t.Cleanup(func() {
		ctx := context.Background()
		slot := "sluice_" + e.name
		// The source is closed by now (its own cleanup ran first), but its
		// walsender may take a moment to release the slot.
		dropSlots(pool, slot+"%")
		_, _ = pool.Exec(ctx, "DROP PUBLICATION IF EXISTS "+slot)
		rows, err := pool.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE $1", "%"+e.suffix)
		if err == nil {
			var names []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				names = append(names, n)
			}
			rows.Close()
			for _, n := range names {
				_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+n+" CASCADE")
			}
		}
		pool.Close()
	})
	return e
}

// table names a test table unique to this env.
func (e *pgEnv) table(base string) string { return base + "_" + e.suffix }

func (e *pgEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *pgEnv) config(tables ...string) Config {
	return Config{Pipeline: e.name, DSN: e.dsn, Tables: tables, ChunkSize: 1000, StatusInterval: time.Second}
}

// open creates and opens a Source, closed at cleanup.
func (e *pgEnv) open(cfg Config, from connectors.Position) *Source {
	e.t.Helper()
	s, err := New(cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Open(ctx, from); err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// broker is the fake in-memory broker: per topic, the latest value per key
// (tombstones and deletes remove the key), plus every record in order.
type broker struct {
	mu     sync.Mutex
	state  map[string]map[string]json.RawMessage // topic → key → after image
	all    []connectors.Record
	acked  connectors.Position
	events []connectors.Envelope
}

func newBroker() *broker { return &broker{state: map[string]map[string]json.RawMessage{}} }

func (b *broker) apply(t *testing.T, recs []connectors.Record) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		b.all = append(b.all, r)
		m := b.state[r.Topic]
		if m == nil {
			m = map[string]json.RawMessage{}
			b.state[r.Topic] = m
		}
		if r.Value == nil {
			delete(m, string(r.Key))
			continue
		}
		env, err := connectors.DecodeEnvelope(r.Value)
		if err != nil {
			t.Fatalf("record value %s: %v", r.Value, err)
		}
		b.events = append(b.events, env)
		switch env.Op {
		case connectors.OpDelete:
			delete(m, string(r.Key))
		case connectors.OpTruncate:
			clear(m)
		default:
			m[string(r.Key)] = env.After
		}
	}
}

// pump reads batches, applies them and acks each, until done reports true
// (checked after every batch and on every idle second) or the timeout.
func (b *broker) pump(t *testing.T, s *Source, timeout time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("pump: condition not reached within %v (%d records so far)", timeout, len(b.all))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		batch, err := s.Read(ctx)
		cancel()
		if err == context.DeadlineExceeded {
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		b.apply(t, batch.Records)
		if batch.Position != nil {
			if err := s.Ack(context.Background(), batch.Position); err != nil {
				t.Fatalf("Ack: %v", err)
			}
			b.acked = batch.Position
		}
	}
}

// tableState reads id → row JSON the way the source encodes it, via a
// Source-independent query: to_jsonb of the row, compared column-wise by
// the test's own equality (only for simple column types).
func (e *pgEnv) tableState(table string, cols string) map[string]string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT id::text, concat_ws('|', "+cols+") FROM "+table)
	if err != nil {
		e.t.Fatalf("reading %s: %v", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			e.t.Fatal(err)
		}
		out[`{"id":`+id+`}`] = v
	}
	return out
}

// brokerState renders the broker's topic like tableState: key → the
// named columns joined by |.
func (b *broker) brokerState(topic string, cols ...string) map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	for k, img := range b.state[topic] {
		row, err := connectors.ParseRow(img)
		if err != nil {
			out[k] = "unparsable: " + string(img)
			continue
		}
		var parts []string
		for _, c := range cols {
			v, _ := row.Get(c)
			if v == nil {
				continue
			}
			parts = append(parts, connectors.KeyText(v))
		}
		out[k] = strings.Join(parts, "|")
	}
	return out
}

func diffStates(want, got map[string]string) string {
	var b strings.Builder
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if n < 5 {
				fmt.Fprintf(&b, "key %s: want %q got %q (present %v)\n", k, w, g, ok)
			}
			n++
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if n < 5 {
				fmt.Fprintf(&b, "key %s: not in table, broker has %q\n", k, g)
			}
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(&b, "%d differences (table %d keys, broker %d)", n, len(want), len(got))
	}
	return b.String()
}

// writer runs random inserts, updates and deletes on table until stopped.
type writer struct {
	stop chan struct{}
	done chan error
}

func startWriter(e *pgEnv, table string, maxID int) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() { // owned by the test: stopped and waited by w.halt
		r := rand.New(rand.NewPCG(1, uint64(maxID)))
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			id := r.IntN(maxID) + 1
			var err error
			switch r.IntN(4) {
			case 0:
				_, err = e.pool.Exec(ctx, "DELETE FROM "+table+" WHERE id = $1", id)
			case 1:
				_, err = e.pool.Exec(ctx, "INSERT INTO "+table+" (id, v, s) VALUES ($1, $2, 'w') ON CONFLICT (id) DO UPDATE SET v = excluded.v", id, i)
			default:
				_, err = e.pool.Exec(ctx, "UPDATE "+table+" SET v = $2, s = s || 'u' WHERE id = $1", id, i)
			}
			if err != nil {
				w.done <- err
				return
			}
		}
	}()
	return w
}

func (w *writer) halt(t *testing.T) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// dropSlots drops the slots named like pattern, waiting up to 10s for
// their walsenders to let go.
func dropSlots(pool *pgxpool.Pool, pattern string) {
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, _ = pool.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active", pattern)
		var left int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE $1", pattern).Scan(&left); err != nil || left == 0 {
			return
		}
	}
}
