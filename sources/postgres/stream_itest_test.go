package postgres

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

var largeTx = flag.Bool("pg.large", false, "run the 1,000,000-row transaction test (default: 20,000 rows)")

// started opens a source on tbl and pumps until the snapshot is done.
func started(t *testing.T, e *pgEnv, cfg Config) (*Source, *broker) {
	t.Helper()
	s := e.open(cfg, nil)
	b := newBroker()
	b.pump(t, s, 20*time.Second, func() bool { return b.acked != nil && !s.Progress().Active })
	return s, b
}

func lastEvents(b *broker, n int) []connectors.Envelope {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]connectors.Envelope(nil), b.events[max(0, len(b.events)-n):]...)
}

func TestLargeTransaction(t *testing.T) {
	t.Parallel()
	n := 20000
	if *largeTx {
		n = 1_000_000
	}
	e := newEnv(t)
	tbl, topic := createTable(e, "large", 0)
	s, b := started(t, e, e.config(tbl))
	e.exec(fmt.Sprintf("INSERT INTO %s SELECT g, g, 'l' FROM generate_series(1, %d) g", tbl, n))
	midTx := false
	b.pump(t, s, 10*time.Minute, func() bool {
		if p, _ := decodePosition(b.acked); p != nil && p.Seq > 0 {
			midTx = true
		}
		return len(b.state[topic]) == n
	})
	if !midTx {
		t.Fatalf("a %d-row transaction was never split into batches with positions inside it", n)
	}
}

// Unchanged TOAST values are never confused with NULL: marker mode carries
// the marker, omit mode leaves the field out.
func TestToast(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{ToastMarker, ToastOmit} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tbl := e.table("toast")
			e.exec("CREATE TABLE " + tbl + " (id int PRIMARY KEY, big text, v int)")
			cfg := e.config(tbl)
			cfg.Toast = mode
			s, b := started(t, e, cfg)
			// ~40 kB of incompressible text goes to the TOAST table.
			e.exec("INSERT INTO " + tbl + " SELECT 1, string_agg(md5(g::text), ''), 0 FROM generate_series(1, 1200) g")
			e.exec("INSERT INTO " + tbl + " VALUES (2, NULL, 0)")
			e.exec("UPDATE " + tbl + " SET v = 1")
			b.pump(t, s, 20*time.Second, func() bool { return len(b.events) >= 4 })
			ev := lastEvents(b, 2)
			for _, u := range ev {
				if u.Op != connectors.OpUpdate {
					t.Fatalf("op %s, want u", u.Op)
				}
			}
			toasted, _ := connectors.ParseRow(ev[0].After)
			null, _ := connectors.ParseRow(ev[1].After)
			v, present := toasted.Get("big")
			switch mode {
			case ToastMarker:
				if v != DefaultToastMarker {
					t.Fatalf("unchanged TOAST value %v, want the marker", v)
				}
			case ToastOmit:
				if present {
					t.Fatalf("unchanged TOAST value present (%v), want omitted", v)
				}
			}
			if v, ok := null.Get("big"); !ok || v != nil {
				t.Fatalf("NULL column = %v (present %v), want null", v, ok)
			}
		})
	}
}

// Columns added and dropped mid-stream change the following events.
func TestSchemaChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, _ := createTable(e, "schema", 0)
	s, b := started(t, e, e.config(tbl))
	e.exec("INSERT INTO " + tbl + " VALUES (1, 1, 'a')")
	e.exec("ALTER TABLE " + tbl + " ADD COLUMN extra jsonb")
	e.exec("INSERT INTO " + tbl + ` VALUES (2, 2, 'b', '{"k":1}')`)
	e.exec("ALTER TABLE " + tbl + " DROP COLUMN s")
	e.exec("INSERT INTO " + tbl + ` VALUES (3, 3, '{"k":3}')`)
	e.exec("ALTER TABLE " + tbl + " ALTER COLUMN v TYPE text")
	e.exec("INSERT INTO " + tbl + ` VALUES (4, 'four', NULL)`)
	b.pump(t, s, 20*time.Second, func() bool { return len(b.events) >= 4 })
	want := []string{
		`{"id":1,"v":1,"s":"a"}`,
		`{"id":2,"v":2,"s":"b","extra":{"k": 1}}`,
		`{"id":3,"v":3,"extra":{"k": 3}}`,
		`{"id":4,"v":"four","extra":null}`,
	}
	for i, ev := range lastEvents(b, 4) {
		if string(ev.After) != want[i] {
			t.Errorf("event %d after %s, want %s", i, ev.After, want[i])
		}
	}
}

// A captured table stays idle while another table is busy: empty batches
// carry positions, so the slot's confirmed flush LSN keeps up with the WAL
// and the retained WAL stays bounded.
func TestIdleTableSlotAdvances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idle, _ := createTable(e, "idle", 10)
	busy := e.table("busy")
	e.exec("CREATE TABLE " + busy + " (id serial PRIMARY KEY, pad text)")
	cfg := e.config(idle)
	cfg.HeartbeatInterval = 200 * time.Millisecond
	s, b := started(t, e, cfg)
	for i := 0; i < 20; i++ {
		e.exec("INSERT INTO " + busy + " (pad) SELECT repeat('x', 200) FROM generate_series(1, 1000)")
	}
	var target string
	if err := e.pool.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		t.Fatal(err)
	}
	slot := "sluice_" + e.name
	b.pump(t, s, 30*time.Second, func() bool {
		var ok bool
		err := e.pool.QueryRow(context.Background(), "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", slot, target).Scan(&ok)
		return err == nil && ok
	})
	if n := len(b.all); n != 10 {
		t.Fatalf("%d records, want only the 10 snapshot rows", n)
	}
	retained, err := s.retainedWAL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("retained WAL after 20k busy rows: %d bytes", retained)
}

func TestTruncateAndKeyUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, topic := createTable(e, "trunc", 3)
	s, b := started(t, e, e.config(tbl))
	e.exec("UPDATE " + tbl + " SET id = 10 WHERE id = 1")
	b.pump(t, s, 20*time.Second, func() bool { return len(b.all) >= 6 })
	// d(old key) + tombstone + c(new key)
	tail := b.all[len(b.all)-3:]
	if string(tail[0].Key) != `{"id":1}` || string(tail[1].Key) != `{"id":1}` || tail[1].Value != nil || string(tail[2].Key) != `{"id":10}` {
		t.Fatalf("key update records: %s %s %s", tail[0].Key, tail[1].Key, tail[2].Key)
	}
	e.exec("TRUNCATE " + tbl)
	b.pump(t, s, 20*time.Second, func() bool { return len(b.events) > 0 && b.events[len(b.events)-1].Op == connectors.OpTruncate })
	if n := len(b.state[topic]); n != 0 {
		t.Fatalf("%d keys after truncate", n)
	}
}

func TestSlotDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, _ := createTable(e, "drop", 5)
	cfg := e.config(tbl)
	s, b := started(t, e, cfg)
	_ = s.Close(context.Background())
	// The closed source's walsender may hold the slot for a moment.
	dropSlots(e.pool, "sluice_"+e.name)
	var left int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", "sluice_"+e.name).Scan(&left); err != nil || left != 0 {
		t.Fatalf("slot sluice_%s still there after dropping it (%d, %v)", e.name, left, err)
	}
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s2.Open(context.Background(), b.acked)
	_ = s2.Close(context.Background())
	if !errors.Is(err, ErrSlotMissing) || !strings.Contains(err.Error(), "sluice_"+e.name) {
		t.Fatalf("Open after the slot was dropped: %v, want ErrSlotMissing naming the slot", err)
	}
	cfg.Snapshot = SnapshotWhenNeeded
	s3 := e.open(cfg, b.acked)
	b3 := newBroker()
	b3.pump(t, s3, 20*time.Second, func() bool { return len(b3.events) == 5 })
	if b3.events[4].Op != connectors.OpRead || b3.events[4].Source.Snapshot != "last" {
		t.Fatalf("when_needed did not snapshot again: %+v", b3.events[4])
	}
}

func TestSnapshotModes(t *testing.T) {
	t.Parallel()
	t.Run("never", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tbl, _ := createTable(e, "never", 5)
		cfg := e.config(tbl)
		cfg.Snapshot = SnapshotNever
		s := e.open(cfg, nil)
		e.exec("INSERT INTO " + tbl + " VALUES (100, 1, 'n')")
		b := newBroker()
		b.pump(t, s, 20*time.Second, func() bool { return len(b.events) >= 1 })
		if ev := b.events[0]; ev.Op != connectors.OpCreate || len(b.events) != 1 {
			t.Fatalf("never: first event %+v (of %d)", ev, len(b.events))
		}
	})
	t.Run("initial_only", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tbl, _ := createTable(e, "only", 5)
		cfg := e.config(tbl)
		cfg.Snapshot = SnapshotInitialOnly
		s := e.open(cfg, nil)
		b := newBroker()
		b.pump(t, s, 20*time.Second, func() bool { return len(b.events) >= 5 })
		var slots int
		if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", "sluice_"+e.name).Scan(&slots); err != nil || slots != 0 {
			t.Fatalf("initial_only created a slot (%d, %v)", slots, err)
		}
		if ev := b.events[4]; ev.Source.Snapshot != "last" {
			t.Fatalf("last snapshot row %+v", ev.Source)
		}
	})
}

// The slot dropped while streaming: Read returns ErrSlotMissing naming it.
func TestSlotDroppedWhileStreaming(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, _ := createTable(e, "dropw", 1)
	cfg := e.config(tbl)
	cfg.ReconnectMin = 200 * time.Millisecond
	s, _ := started(t, e, cfg)
	slot := "sluice_" + e.name
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, _ = e.pool.Exec(ctx, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active", slot)
		if _, err := e.pool.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("could not drop the slot")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := s.Read(rctx)
		if err == nil {
			continue // batches read before the drop
		}
		if !errors.Is(err, ErrSlotMissing) || !strings.Contains(err.Error(), slot) {
			t.Fatalf("Read after the slot was dropped: %v, want ErrSlotMissing naming %s", err, slot)
		}
		return
	}
}

// A table added to the pipeline later is snapshotted when the source
// reopens, while the tables it had keep streaming from their position.
func TestTableAddedLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, topicA := createTable(e, "first", 3)
	bt, topicB := createTable(e, "second", 4)
	s, b := started(t, e, e.config(a))
	_ = s.Close(context.Background())
	e.exec("UPDATE " + a + " SET v = 99 WHERE id = 1")
	s2 := e.open(e.config(a, bt), b.acked)
	e.exec("UPDATE " + bt + " SET v = 77 WHERE id = 2")
	wantA, wantB := e.tableState(a, "v, s"), e.tableState(bt, "v, s")
	b.pump(t, s2, 30*time.Second, func() bool {
		return diffStates(wantA, b.brokerState(topicA, "v", "s")) == "" && diffStates(wantB, b.brokerState(topicB, "v", "s")) == ""
	})
	reads := 0
	for _, ev := range b.events {
		if ev.Op == connectors.OpRead && ev.Source.Table == bt {
			reads++
		}
	}
	if reads != 4 {
		t.Fatalf("%d snapshot rows of the added table, want 4", reads)
	}
}
