package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/itest"
)

var tableSeq atomic.Int64

// testDB connects to the test server and returns a fresh table name
// (database.table) that is dropped after the test.
func testDB(t testing.TB) (*sql.DB, string, func(string) string) {
	t.Helper()
	dsn := itest.Need(t, itest.MySQL)
	db, err := sql.Open("mysql", dsn+"?multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d, err := itest.ParseMySQLDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("t%d_%d", time.Now().UnixNano()%1_000_000_000, tableSeq.Add(1))
	full := d.DB + "." + name
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + full) })
	return db, full, func(q string) string { return strings.ReplaceAll(q, "$T", full) }
}

func exec(t testing.TB, db *sql.DB, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func newTestSource(t *testing.T, tables []string, mut func(*Config)) *Source {
	t.Helper()
	cfg := Config{Pipeline: "p" + strings.ReplaceAll(strings.Split(tables[0], ".")[1], "_", "-"),
		DSN: itest.Need(t, itest.MySQL), Tables: tables, ChunkSize: 7, HeartbeatPeriod: 500 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	s, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// state applies change events to a map key → after JSON, as a sink would.
type state struct {
	rows      map[string]string
	snapshots map[string]int // snapshot field value → count
	ops       map[string]int
}

func newState() *state {
	return &state{rows: map[string]string{}, snapshots: map[string]int{}, ops: map[string]int{}}
}

func (st *state) apply(t *testing.T, recs []connectors.Record) {
	t.Helper()
	for _, r := range recs {
		if r.Value == nil {
			delete(st.rows, string(r.Key))
			continue
		}
		e, err := connectors.DecodeEnvelope(r.Value)
		if err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		st.snapshots[e.Source.Snapshot]++
		st.ops[string(e.Op)]++
		if e.Op == connectors.OpDelete {
			delete(st.rows, string(r.Key))
		} else {
			st.rows[string(r.Key)] = string(e.After)
		}
	}
}

// readUntil reads at least one batch, then batches, applying them, until done(st) holds; it returns
// the positions of the batches read.
func readUntil(t *testing.T, s *Source, st *state, done func(*state) bool) []connectors.Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ps []connectors.Position
	for first := true; first || !done(st); first = false { // at least one batch
		b, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v (state %d rows)", err, len(st.rows))
		}
		st.apply(t, b.Records)
		if b.Position != nil {
			ps = append(ps, b.Position)
			if err := s.Ack(ctx, b.Position); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ps
}

// tableState reads the table as id → after JSON through a one-off
// initial_only snapshot's encoding (the same mapping as the snapshot).
func tableRows(t *testing.T, db *sql.DB, full string) map[string]string {
	t.Helper()
	s := newTestSource(t, []string{full}, func(c *Config) { c.Snapshot = SnapshotInitialOnly; c.Pipeline += "-check" })
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	st := newState()
	readUntil(t, s, st, func(st *state) bool {
		return st.snapshots["last"] > 0 || (len(st.rows) == 0 && st.snapshots["true"] == 0 && countRows(t, db, full) == 0)
	})
	return st.rows
}

func countRows(t *testing.T, db *sql.DB, full string) int {
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + full).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func equalRows(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %s: got %s, want %s", k, got[k], v)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
