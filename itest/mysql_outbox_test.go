package itest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/outbox"
)

// TestMySQLOutboxRunEndToEnd runs `sluice run` with a MySQL source whose
// pipeline has `outbox: {table: ...}` against the real MariaDB: concurrent
// writers commit and roll back events, the run is killed mid-stream and
// restarted. Every committed event reaches outbox.event.<aggregatetype>
// (key = aggregate id, value = payload, headers id/type), no rolled-back
// one does, each aggregate's events come in commit order once deduplicated
// by id, and none is delivered more than twice across the one restart.
func TestMySQLOutboxRunEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := Need(t, MySQL)
	d, err := ParseMySQLDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := strings.ReplaceAll(suffix(), "_", "")
	pipeline := "myobx" + s
	table := d.DB + ".myobx_" + s
	aggType := "order" + s
	topic, probeTopic := "outbox.event."+aggType, "outbox.event.probe"+s

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ddl, err := outbox.DDL(outbox.MySQL, table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
	w, err := outbox.New(outbox.WithDialect(outbox.MySQL), outbox.WithTable(table))
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
      type: mysql
      dsn: %q
      snapshot: never
      partitions: 3
      outbox: {table: %s}
`, filepath.Join(dir, "data"), bootstrap, pipeline, dsn, table)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeLoopback(t)

	const writers, aggs = 4, 6
	var aggMu [aggs]sync.Mutex
	var aggSeq [aggs]int
	var mu sync.Mutex
	var committed []committedEvent
	rolledBack := map[string]bool{}
	write := func(wr, txs int) error {
		for i := range txs {
			a := (wr + i) % aggs
			aggMu[a].Lock()
			err := func() error {
				defer aggMu[a].Unlock()
				rollback := i%5 == 4
				var evs []outbox.Event
				for k := range 1 + i%3 {
					seq := aggSeq[a] + k + 1
					id, err := outbox.NewID()
					if err != nil {
						return err
					}
					evs = append(evs, outbox.Event{ID: id, AggregateType: aggType, AggregateID: fmt.Sprintf("agg-%d", a),
						Type: fmt.Sprintf("step%d", seq%4), Payload: json.RawMessage(fmt.Sprintf(`{"agg":%d,"seq":%d,"writer":%d}`, a, seq, wr))})
				}
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
				if err := w.WriteSQL(ctx, tx, evs...); err != nil {
					return err
				}
				if rollback {
					mu.Lock()
					for _, e := range evs {
						rolledBack[e.ID] = true
					}
					mu.Unlock()
					return tx.Rollback()
				}
				if err := tx.Commit(); err != nil {
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

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic, probeTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var received []*kgo.Record
	seen := map[string]int{}
	probed := false
	poll := func(what string, run *runProc) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			mu.Lock()
			n := len(committed)
			mu.Unlock()
			t.Fatalf("%s: %d of %d committed events consumed\n%s", what, len(seen), n, run.out.String())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == probeTopic {
				probed = true
				return
			}
			received = append(received, r)
			seen[kgoHeader(r, "id")]++
		})
	}
	consumeUntil := func(what string, run *runProc) {
		t.Helper()
		for {
			mu.Lock()
			want := len(committed)
			mu.Unlock()
			if len(seen) >= want {
				return
			}
			poll(what, run)
		}
	}

	run := startRun(t, file, admin)
	// snapshot: never streams from the binlog end at Open: probe until the
	// source is streaming (probes go to their own topic).
	for !probed {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteSQL(ctx, tx, outbox.Event{AggregateType: "probe" + s, AggregateID: "p", Type: "probe", Payload: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		poll("probing", run)
	}
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
	first := map[string]bool{}
	dups := 0
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
		t.Fatalf("%d distinct events delivered, %d committed", len(first), len(committed))
	}
	t.Logf("%d committed events, %d rolled back, %d redelivered after the kill", len(committed), len(rolledBack), dups)
}
