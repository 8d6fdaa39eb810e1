package mysql

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// TRUNCATE TABLE of a captured table is an op "t" record with key {} and
// null images (as the Postgres source's); truncate: skip drops it.
func TestTruncate(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{TruncateEvent, TruncateSkip} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db, full, q := testDB(t)
			exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY, v INT)"), q("INSERT INTO $T VALUES (1, 1), (2, 2)"))
			s := newTestSource(t, []string{full}, func(c *Config) { c.Truncate = mode; c.Pipeline += "-" + mode })
			if err := s.Open(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			st := newState()
			readUntil(t, s, st, func(st *state) bool { return st.snapshots["last"] > 0 })
			exec(t, db, q("TRUNCATE TABLE $T"), q("INSERT INTO $T VALUES (3, 3)"))
			var truncs []connectors.Record
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for done := false; !done; {
				b, err := s.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range b.Records {
					if r.Value == nil {
						continue
					}
					e, err := connectors.DecodeEnvelope(r.Value)
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case e.Op == connectors.OpTruncate:
						if string(r.Key) != "{}" || string(e.Before) != "null" || string(e.After) != "null" || e.Source.Table != strings.Split(full, ".")[1] {
							t.Fatalf("truncate record %s %s", r.Key, r.Value)
						}
						truncs = append(truncs, r)
					case string(r.Key) == `{"id":3}`:
						done = true
					}
				}
			}
			want := map[string]int{TruncateEvent: 1, TruncateSkip: 0}[mode]
			if len(truncs) != want {
				t.Fatalf("%d truncate records, want %d", len(truncs), want)
			}
		})
	}
}

// Two ALTER TABLEs between the stored position and the restart: with
// binlog_row_metadata=FULL each row event names its columns, so the rows
// written between the ALTERs decode with the columns they had (the schema
// read at the first ALTER is already the final one). Private server: the
// shared one keeps the default metadata.
func TestTwoAltersBeforeCatchUp(t *testing.T) {
	t.Parallel()
	srv := startTLSMariaDB(t, "--binlog-row-metadata=FULL")
	cfg := Config{Pipeline: "alters", DSN: srv.dsn("?ca_file=" + url.QueryEscape(srv.caFile)), Tables: []string{"sluice.t"},
		HeartbeatPeriod: 500 * time.Millisecond}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := newState()
	readUntil(t, s, st, func(st *state) bool { return st.snapshots["last"] > 0 })
	exec(t, srv.root, "INSERT INTO sluice.t VALUES (2, 'a')")
	ps := readUntil(t, s, st, func(st *state) bool { return st.rows[`{"id":2}`] != "" })
	_ = s.Close(context.Background())

	exec(t, srv.root,
		"INSERT INTO sluice.t VALUES (3, 'b')",
		"ALTER TABLE sluice.t ADD COLUMN c1 INT",
		"INSERT INTO sluice.t VALUES (4, 'c', 40)",
		"ALTER TABLE sluice.t ADD COLUMN c2 VARCHAR(5) FIRST",
		"INSERT INTO sluice.t VALUES ('x', 5, 'd', 50)",
		"ALTER TABLE sluice.t DROP COLUMN v",
		"INSERT INTO sluice.t VALUES ('y', 6, 60)")
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Open(context.Background(), ps[len(ps)-1]); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	readUntil(t, s2, st, func(st *state) bool { return st.rows[`{"id":6}`] != "" })
	want := map[string]string{
		`{"id":3}`: `{"id":3,"v":"b"}`,
		`{"id":4}`: `{"id":4,"v":"c","c1":40}`,
		`{"id":5}`: `{"c2":"x","id":5,"v":"d","c1":50}`,
		`{"id":6}`: `{"c2":"y","id":6,"c1":60}`,
	}
	for k, v := range want {
		if got := st.rows[k]; !jsonEqual(got, v) {
			t.Errorf("row %s: got %s, want %s", k, got, v)
		}
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// A snapshot resumed from a position whose tables are all read (the end
// not yet acknowledged) still emits one "last" record.
func TestResumedSnapshotWithNothingLeftEmitsLast(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY)"), q("INSERT INTO $T VALUES (1), (2), (3)"))
	s := newTestSource(t, []string{full}, func(c *Config) { c.MaxBatch = 1; c.ChunkSize = 2 })
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := newState()
	ps := readUntil(t, s, st, func(st *state) bool { return len(st.rows) >= 1 })
	_ = s.Close(context.Background())
	var mid *position
	for i := len(ps) - 1; i >= 0 && mid == nil; i-- {
		if p, err := decodePosition(ps[i]); err == nil && p.Snap != nil {
			mid = p
		}
	}
	if mid == nil {
		t.Fatal("no mid-snapshot position")
	}
	mid.Snap.Tables[full] = &chunkState{Done: true} // as if every chunk was read
	b, err := json.Marshal(mid)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newTestSource(t, []string{full}, nil)
	if err := s2.Open(context.Background(), append([]byte{positionVersion}, b...)); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	st2 := newState()
	readUntil(t, s2, st2, func(st *state) bool { return st.snapshots["last"] > 0 })
	if st2.rows[`{"id":3}`] == "" || st2.snapshots["last"] != 1 {
		t.Fatalf("resumed: rows %v markers %v, want the last row marked last", st2.rows, st2.snapshots)
	}
}

// The same catch-up across several ALTERs on the shared server, whose
// binlog_row_metadata is the default (no column names in table maps): the
// ALTERs are replayed on the schema held (applyAlter), so each row still
// decodes with its own columns.
func TestTwoAltersBeforeCatchUpReplayed(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY, v VARCHAR(20))"), q("INSERT INTO $T VALUES (1, 'snap')"))
	s := newTestSource(t, []string{full}, nil)
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := newState()
	readUntil(t, s, st, func(st *state) bool { return st.snapshots["last"] > 0 })
	exec(t, db, q("INSERT INTO $T VALUES (2, 'a')"))
	ps := readUntil(t, s, st, func(st *state) bool { return st.rows[`{"id":2}`] != "" })
	_ = s.Close(context.Background())

	exec(t, db,
		q("INSERT INTO $T VALUES (3, 'b')"),
		q("ALTER TABLE $T ADD COLUMN c1 INT"),
		q("INSERT INTO $T VALUES (4, 'c', 40)"),
		q("ALTER TABLE $T ADD COLUMN c2 VARCHAR(5) FIRST, ALGORITHM=INPLACE"),
		q("INSERT INTO $T VALUES ('x', 5, 'd', 50)"),
		q("ALTER TABLE $T DROP COLUMN v"),
		q("INSERT INTO $T VALUES ('y', 6, 60)"))
	s2 := newTestSource(t, []string{full}, nil)
	if err := s2.Open(context.Background(), ps[len(ps)-1]); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	readUntil(t, s2, st, func(st *state) bool { return st.rows[`{"id":6}`] != "" })
	want := map[string]string{
		`{"id":3}`: `{"id":3,"v":"b"}`,
		`{"id":4}`: `{"id":4,"v":"c","c1":40}`,
		`{"id":5}`: `{"c2":"x","id":5,"v":"d","c1":50}`,
		`{"id":6}`: `{"c2":"y","id":6,"c1":60}`,
	}
	for k, v := range want {
		if got := st.rows[k]; !jsonEqual(got, v) {
			t.Errorf("row %s: got %s, want %s", k, got, v)
		}
	}
}
