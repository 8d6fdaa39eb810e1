package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func createTable(e *pgEnv, base string, rows int) (string, string) {
	tbl := e.table(base)
	e.exec("CREATE TABLE " + tbl + " (id int PRIMARY KEY, v int, s text)")
	if rows > 0 {
		e.exec(fmt.Sprintf("INSERT INTO %s SELECT g, g, 'x' || g FROM generate_series(1, %d) g", tbl, rows))
	}
	e.exec("ANALYZE " + tbl)
	return tbl, e.name + ".public." + tbl
}

// The snapshot runs while writers change both tables; afterwards the
// latest value per key in the broker equals the tables exactly.
func TestSnapshotWithConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t1, topic1 := createTable(e, "a", 6000)
	t2, topic2 := createTable(e, "b", 3000)
	cfg := e.config(t1, t2)
	cfg.ChunkSize = 250
	cfg.MaxBatch = 300
	w1 := startWriter(e, t1, 7000)
	w2 := startWriter(e, t2, 3500)
	s := e.open(cfg, nil)
	b := newBroker()
	// Read through the snapshot while the writers run, then stop them.
	b.pump(t, s, 60*time.Second, func() bool {
		for _, ev := range b.events {
			if ev.Source.Snapshot == "last" {
				return true
			}
		}
		return false
	})
	w1.halt(t)
	w2.halt(t)
	want1, want2 := e.tableState(t1, "v, s"), e.tableState(t2, "v, s")
	b.pump(t, s, 60*time.Second, func() bool {
		return diffStates(want1, b.brokerState(topic1, "v", "s")) == "" && diffStates(want2, b.brokerState(topic2, "v", "s")) == ""
	})
	// Envelope rules: snapshot rows op r, "true" then exactly one "last",
	// then streaming "false"; r/c before null; d followed by a tombstone.
	lasts, phase := 0, "true"
	for _, ev := range b.events {
		switch ev.Source.Snapshot {
		case "true":
			if phase != "true" {
				t.Fatalf("snapshot row after the snapshot ended: %+v", ev)
			}
		case "last":
			lasts++
			phase = "false"
		case "false":
			phase = "false"
		}
		if (ev.Op == connectors.OpRead || ev.Op == connectors.OpCreate) && !connectors.IsNull(ev.Before) {
			t.Fatalf("op %s with before %s", ev.Op, ev.Before)
		}
		if ev.Op == connectors.OpRead && ev.Source.Snapshot == "false" {
			t.Fatalf("op r outside the snapshot")
		}
		if ev.Source.Connector != "postgresql" || ev.Source.Name != e.name || ev.Source.Schema != "public" || ev.Source.DB == "" || ev.Source.LSN == nil {
			t.Fatalf("source block %+v", ev.Source)
		}
	}
	if lasts != 1 {
		t.Fatalf("%d records with snapshot last, want 1", lasts)
	}
	for i, r := range b.all {
		if r.Value == nil {
			continue
		}
		env, _ := connectors.DecodeEnvelope(r.Value)
		if env.Op == connectors.OpDelete {
			if i+1 >= len(b.all) || b.all[i+1].Value != nil || string(b.all[i+1].Key) != string(r.Key) {
				t.Fatalf("delete of %s not followed by its tombstone", r.Key)
			}
			if connectors.IsNull(env.Before) || !connectors.IsNull(env.After) {
				t.Fatalf("delete images before=%s after=%s", env.Before, env.After)
			}
		}
	}
	if p := s.Progress(); p.Active || p.RowsDone < 5000 {
		t.Fatalf("progress after the snapshot: %+v", p)
	}
}

// Two transactions interleave; each arrives whole, in commit order.
func TestInterleavedTransactions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, topic := createTable(e, "i", 0)
	s := e.open(e.config(tbl), nil)
	b := newBroker()
	b.pump(t, s, 20*time.Second, func() bool { return s.Progress().Active == false && b.acked != nil })
	ctx := context.Background()
	txA, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	txB, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := txA.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1, 1, 'a')", i); err != nil {
			t.Fatal(err)
		}
		if _, err := txB.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1, 2, 'b')", 100+i); err != nil {
			t.Fatal(err)
		}
	}
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b.pump(t, s, 20*time.Second, func() bool { return len(b.state[topic]) == 20 })
	var order []string
	for _, ev := range b.events {
		if ev.Op == connectors.OpCreate {
			row, _ := connectors.ParseRow(ev.After)
			v, _ := row.Get("s")
			order = append(order, v.(string))
		}
	}
	want := "bbbbbbbbbbaaaaaaaaaa"
	if got := fmt.Sprint(order); len(order) != 20 || joinStrings(order) != want {
		t.Fatalf("commit order %s, want %s", got, want)
	}
	// Same transaction, same txId; B's txId differs from A's.
	if *b.events[len(b.events)-1].Source.TxID == *b.events[len(b.events)-11].Source.TxID {
		t.Fatalf("transactions share a txId")
	}
}

func joinStrings(ss []string) string {
	out := ""
	for _, s := range ss {
		out += s
	}
	return out
}

// A crash mid-stream (inside a large transaction and between others): the
// source is dropped without acking past a point and reopened from the last
// acked position. Nothing is lost, and nothing acked is repeated.
func TestRestartMidStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, topic := createTable(e, "r", 0)
	cfg := e.config(tbl)
	cfg.MaxBatch = 100
	s := e.open(cfg, nil)
	b := newBroker()
	b.pump(t, s, 20*time.Second, func() bool { return b.acked != nil && !s.Progress().Active })
	// A large transaction (many batches, positions inside it) and small ones.
	e.exec("INSERT INTO " + tbl + " SELECT g, g, 'big' FROM generate_series(1, 2500) g")
	for i := 0; i < 50; i++ {
		e.exec(fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id = %d", tbl, i+1))
	}
	e.exec("DELETE FROM " + tbl + " WHERE id > 2400")
	// Read and ack part of the large transaction, then read more without
	// acking it: the "crash".
	b.pump(t, s, 20*time.Second, func() bool { return len(b.all) >= 1000 })
	acked := b.acked
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	lost, err := s.Read(ctx) // read, never acked
	cancel()
	if err != nil || len(lost.Records) == 0 {
		t.Fatalf("reading the batch to lose: %v (%d records)", err, len(lost.Records))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := e.open(cfg, acked)
	b2 := newBroker()
	b2.state = b.state // the broker kept what was acked... and what was not: keep all
	want := e.tableState(tbl, "v, s")
	b2.pump(t, s2, 30*time.Second, func() bool { return diffStates(want, b2.brokerState(topic, "v", "s")) == "" })
	// The first record after the restart is the one after the acked prefix.
	first, want1 := b2.all[0], lost.Records[0]
	e1, _ := connectors.DecodeEnvelope(first.Value)
	e2, _ := connectors.DecodeEnvelope(want1.Value)
	if string(first.Key) != string(want1.Key) || string(e1.After) != string(e2.After) || *e1.Source.LSN != *e2.Source.LSN {
		t.Fatalf("after restart first record %s %s, want %s %s", first.Key, first.Value, want1.Key, want1.Value)
	}
}

// A crash mid-snapshot: the exported snapshot is gone, so the unfinished
// table is re-snapshotted under a new one after streaming up to it;
// finished tables are not read again. The result equals the tables.
func TestRestartMidSnapshot(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			t.Parallel()
			restartMidSnapshot(t, workers)
		})
	}
}

func restartMidSnapshot(t *testing.T, workers int) {
	e := newEnv(t)
	small, topicS := createTable(e, "s", 50)
	big, topicB := createTable(e, "m", 5000)
	cfg := e.config(small, big)
	cfg.ChunkSize = 200
	cfg.SnapshotWorkers = workers
	w := startWriter(e, big, 5500)
	s := e.open(cfg, nil)
	b := newBroker()
	ranges := false
	b.pump(t, s, 30*time.Second, func() bool {
		if p, _ := decodePosition(b.acked); p != nil {
			for _, tp := range p.Pending {
				ranges = ranges || tp.Table != ""
			}
		}
		return len(b.all) >= 1000
	})
	if ranges != (workers > 1) {
		t.Fatalf("key ranges in positions: %v with %d workers", ranges, workers)
	}
	acked := b.acked
	pos, err := decodePosition(acked)
	if err != nil || len(pos.Pending) == 0 {
		t.Fatalf("position mid-snapshot %s has no pending tables (%v)", acked, err)
	}
	_ = s.Close(context.Background())
	e.exec("UPDATE " + small + " SET v = -1 WHERE id = 1") // must arrive through the stream
	s2 := e.open(cfg, acked)
	b.pump(t, s2, 30*time.Second, func() bool {
		for _, ev := range b.events {
			if ev.Source.Snapshot == "last" {
				return true
			}
		}
		return false
	})
	w.halt(t)
	wantS, wantB := e.tableState(small, "v, s"), e.tableState(big, "v, s")
	b.pump(t, s2, 60*time.Second, func() bool {
		return diffStates(wantS, b.brokerState(topicS, "v", "s")) == "" && diffStates(wantB, b.brokerState(topicB, "v", "s")) == ""
	})
}

func TestNoKeyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl := e.table("nokey")
	e.exec("CREATE TABLE " + tbl + " (a int, b text)")
	s, err := New(e.config(tbl))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	err = s.Open(context.Background(), nil)
	if !errors.Is(err, ErrNoKey) || !containsStr(err.Error(), tbl) {
		t.Fatalf("Open = %v, want ErrNoKey naming %s", err, tbl)
	}
}

func containsStr(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Read blocked when Close runs returns ErrClosed; a cancelled Read returns
// ctx.Err(); Close twice is fine.
func TestCloseWhileReading(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, _ := createTable(e, "close", 1)
	s, _ := started(t, e, e.config(tbl))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled ctx: %v", err)
	}
	errc := make(chan error, 1)
	go func() { // waited for below
		_, err := s.Read(context.Background())
		errc <- err
	}()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read during Close: %v, want ErrClosed", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Restart inside the first of two interleaved transactions: the reopened
// source repeats exactly the unacknowledged suffix, in commit order.
func TestRestartInsideInterleaved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, _ := createTable(e, "ri", 0)
	cfg := e.config(tbl)
	cfg.MaxBatch = 3
	s, b := started(t, e, cfg)
	ctx := context.Background()
	txA, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	txB, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := txA.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1, 1, 'a')", i); err != nil {
			t.Fatal(err)
		}
		if _, err := txB.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1, 2, 'b')", 100+i); err != nil {
			t.Fatal(err)
		}
	}
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Read B's first two batches (6 rows), ack them, drop the rest.
	before := len(b.all)
	b.pump(t, s, 20*time.Second, func() bool { return len(b.all) >= before+6 })
	if p, _ := decodePosition(b.acked); p == nil || p.Seq != 6 {
		t.Fatalf("acked position %s is not 6 changes into a transaction", b.acked)
	}
	_ = s.Close(ctx)
	s2 := e.open(cfg, b.acked)
	b2 := newBroker()
	b2.pump(t, s2, 20*time.Second, func() bool { return len(b2.all) >= 14 })
	var got []string
	for _, r := range b2.all {
		got = append(got, string(r.Key))
	}
	var want []string
	for i := 6; i < 10; i++ {
		want = append(want, fmt.Sprintf(`{"id":%d}`, 100+i))
	}
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf(`{"id":%d}`, i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart keys %v, want %v", got, want)
	}
}
