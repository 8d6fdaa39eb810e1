package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// The replication connection is killed mid-stream; the source reconnects
// and resumes after what it emitted: nothing lost, nothing out of order.
func TestReconnectAfterLostConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, topic := createTable(e, "reconn", 100)
	cfg := e.config(tbl)
	cfg.ReconnectMin = 50 * time.Millisecond
	s, b := started(t, e, cfg)
	w := startWriter(e, tbl, 200)
	slot := "sluice_" + e.name
	for i := 0; i < 3; i++ {
		b.pump(t, s, 20*time.Second, func() bool { return len(b.all) >= 100+50*(i+1) })
		// Wait for the (re)connected walsender, then kill it.
		var killed bool
		for deadline := time.Now().Add(20 * time.Second); !killed; {
			err := e.pool.QueryRow(context.Background(), "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active", slot).Scan(&killed)
			if err != nil && time.Now().After(deadline) {
				t.Fatalf("terminating the walsender: %v", err)
			}
			b.pump(t, s, 20*time.Second, func() bool { return true })
		}
	}
	w.halt(t)
	want := e.tableState(tbl, "v, s")
	b.pump(t, s, 30*time.Second, func() bool { return diffStates(want, b.brokerState(topic, "v", "s")) == "" })
}

// A table without a primary key but with REPLICA IDENTITY USING INDEX is
// keyed by that index; a keyless table is captured with nil keys only when
// allowed.
func TestReplicaIdentityAndKeyless(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ri, kl := e.table("ri"), e.table("kl")
	e.exec("CREATE TABLE " + ri + " (a int NOT NULL, b text NOT NULL, c int)")
	e.exec("CREATE UNIQUE INDEX " + ri + "_idx ON " + ri + " (b, a)")
	e.exec("ALTER TABLE " + ri + " REPLICA IDENTITY USING INDEX " + ri + "_idx")
	e.exec("CREATE TABLE " + kl + " (x int)")
	e.exec("INSERT INTO " + ri + " VALUES (1, 'one', 10)")
	e.exec("INSERT INTO " + kl + " VALUES (5)")
	cfg := e.config(ri, kl)
	cfg.AllowKeyless = true
	s, b := started(t, e, cfg)
	e.exec("DELETE FROM " + ri)
	e.exec("INSERT INTO " + kl + " VALUES (6)")
	b.pump(t, s, 20*time.Second, func() bool { return len(b.all) >= 5 })
	keys := []string{}
	for _, r := range b.all {
		keys = append(keys, string(r.Key))
	}
	want := []string{`{"b":"one","a":1}`, ``, `{"b":"one","a":1}`, `{"b":"one","a":1}`, ``}
	// Snapshot order between the two tables is not fixed.
	if fmt.Sprint(keys[2:]) != fmt.Sprint(want[2:]) || !(keys[0] == want[0] && keys[1] == "" || keys[1] == want[0] && keys[0] == "") {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	if spec := s.TopicSpec(e.name + ".public." + kl); spec.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("keyless topic spec %+v", spec)
	}
	if spec := s.TopicSpec(e.name + ".public." + ri); spec.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("topic spec %+v", spec)
	}
	del, _ := connectors.DecodeEnvelope(b.all[2].Value)
	if string(del.Before) != `{"a":1,"b":"one"}` {
		t.Fatalf("delete before %s, want the identity columns", del.Before)
	}
}

// Prerequisites are checked up front, and the error says what is missing.
func TestPrerequisiteErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl, _ := createTable(e, "priv", 0)
	role := "r" + e.suffix
	e.exec("CREATE ROLE " + role + " LOGIN PASSWORD 'pw'")
	t.Cleanup(func() { e.exec("DROP OWNED BY " + role); e.exec("DROP ROLE " + role) })
	u, err := url.Parse(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "pw")
	cfg := e.config(tbl, e.table("missing"))
	cfg.DSN = u.String()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Open(context.Background(), nil)
	_ = s.Close(context.Background())
	if err == nil {
		t.Fatal("Open succeeded without privileges")
	}
	for _, want := range []string{"REPLICATION", "SELECT privilege on public." + tbl, "public." + e.table("missing")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !errors.Is(err, ErrPrerequisite) {
		t.Errorf("error %v is not ErrPrerequisite", err)
	}
}

// A partitioned table is captured under its own name (the publication
// publishes via the partition root), in the snapshot and the stream.
func TestPartitionedTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tbl := e.table("parted")
	e.exec("CREATE TABLE " + tbl + " (id int PRIMARY KEY, v int) PARTITION BY RANGE (id)")
	e.exec("CREATE TABLE " + tbl + "_p1 PARTITION OF " + tbl + " FOR VALUES FROM (0) TO (100)")
	e.exec("CREATE TABLE " + tbl + "_p2 PARTITION OF " + tbl + " FOR VALUES FROM (100) TO (200)")
	e.exec("INSERT INTO " + tbl + " VALUES (1, 1), (150, 2)")
	topic := e.name + ".public." + tbl
	s, b := started(t, e, e.config(tbl))
	e.exec("INSERT INTO " + tbl + " VALUES (2, 3), (151, 4)")
	b.pump(t, s, 20*time.Second, func() bool { return len(b.state[topic]) == 4 })
}
