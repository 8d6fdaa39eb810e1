package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// A snapshot taken while writers run, then the stream: the latest image
// per key equals the table.
func TestSnapshotWithConcurrentWritesThenStream(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY, v VARCHAR(20), n BIGINT UNSIGNED)"))
	for i := range 100 {
		exec(t, db, q(fmt.Sprintf("INSERT INTO $T VALUES (%d, 'v%d', %d)", i, i, uint64(1)<<63+uint64(i))))
	}
	s := newTestSource(t, []string{full}, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by wg; ends after its fixed writes
		defer wg.Done()
		for i := range 60 {
			_, _ = db.Exec(q(fmt.Sprintf("UPDATE $T SET v = 'u%d' WHERE id = %d", i, i)))
			_, _ = db.Exec(q(fmt.Sprintf("INSERT INTO $T VALUES (%d, 'n', 1)", 1000+i)))
			_, _ = db.Exec(q(fmt.Sprintf("DELETE FROM $T WHERE id = %d", 50+i)))
		}
	}()
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	wg.Wait()
	exec(t, db, q("INSERT INTO $T VALUES (999999, 'end', 0)"))
	st := newState()
	readUntil(t, s, st, func(st *state) bool { return st.rows[`{"id":999999}`] != "" })
	if st.snapshots["last"] != 1 {
		t.Fatalf("snapshot markers %v: want exactly one last", st.snapshots)
	}
	equalRows(t, st.rows, tableRows(t, db, full))
}

// Reopening from an acknowledged position mid-stream loses nothing.
func TestRestartMidStream(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))"))
	s := newTestSource(t, []string{full}, nil)
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := newState()
	ps := readUntil(t, s, st, func(*state) bool { return true })
	for i := range 30 {
		exec(t, db, q(fmt.Sprintf("INSERT INTO $T VALUES (%d, 'k', %d)", i, i)))
	}
	ps = append(ps, readUntil(t, s, st, func(st *state) bool { return len(st.rows) == 30 })...)
	// Drop the source without acking the rest: more writes happen meanwhile.
	keep := ps[len(ps)-1]
	for i := range 30 {
		exec(t, db, q(fmt.Sprintf("UPDATE $T SET v = v + 100 WHERE a = %d", i)))
	}
	exec(t, db, q("DELETE FROM $T WHERE a < 5"))
	_ = s.Close(context.Background())

	s2 := newTestSource(t, []string{full}, nil)
	if err := s2.Open(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	exec(t, db, q("INSERT INTO $T VALUES (999, 'end', 0)"))
	readUntil(t, s2, st, func(st *state) bool { return st.rows[`{"a":999,"b":"end"}`] != "" })
	equalRows(t, st.rows, tableRows(t, db, full))
}

// An ALTER mid-stream changes the images; a restart from before the ALTER
// decodes the older events with the older columns.
func TestAlterMidStreamAndRestart(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY, v INT)"))
	s := newTestSource(t, []string{full}, nil)
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := newState()
	ps := readUntil(t, s, st, func(*state) bool { return true })
	before := ps[len(ps)-1]
	exec(t, db, q("INSERT INTO $T VALUES (1, 10)"),
		q("ALTER TABLE $T ADD COLUMN w VARCHAR(5) DEFAULT 'x' AFTER id"),
		q("INSERT INTO $T VALUES (2, 'y', 20)"))
	readUntil(t, s, st, func(st *state) bool { return len(st.rows) == 2 })
	if got, want := st.rows[`{"id":1}`], `{"id":1,"v":10}`; got != want {
		t.Fatalf("pre-ALTER row %s, want %s", got, want)
	}
	if got, want := st.rows[`{"id":2}`], `{"id":2,"w":"y","v":20}`; got != want {
		t.Fatalf("post-ALTER row %s, want %s", got, want)
	}
	_ = s.Close(context.Background())

	// Restart from before the ALTER: the schema in the position decodes
	// row 1 (two columns) although the table now has three.
	s2 := newTestSource(t, []string{full}, nil)
	if err := s2.Open(context.Background(), before); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	st2 := newState()
	readUntil(t, s2, st2, func(st *state) bool { return len(st.rows) == 2 })
	if got := st2.rows[`{"id":1}`]; got != `{"id":1,"v":10}` {
		t.Fatalf("replayed pre-ALTER row %s", got)
	}
	// And a restart after the ALTER carries the new schema.
	exec(t, db, q("INSERT INTO $T VALUES (3, 'z', 30)"))
	readUntil(t, s2, st2, func(st *state) bool { return len(st.rows) == 3 })
	if got := st2.rows[`{"id":3}`]; got != `{"id":3,"w":"z","v":30}` {
		t.Fatalf("row 3 %s", got)
	}
}

// A position whose binlog file was purged is a clear error.
func TestPurgedBinlog(t *testing.T) {
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY)"))
	s := newTestSource(t, []string{full}, func(c *Config) { c.Snapshot = SnapshotNever })
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	exec(t, db, q("INSERT INTO $T VALUES (1)"))
	st := newState()
	ps := readUntil(t, s, st, func(st *state) bool { return len(st.rows) == 1 })
	_ = s.Close(context.Background())
	pos, err := decodePosition(ps[len(ps)-1])
	if err != nil {
		t.Fatal(err)
	}
	// A file/pos-only position in a purged file (GTIDs are always on in
	// MariaDB, so drop the set to exercise the file check too).
	pos.GTID = ""
	old := pos.File
	exec(t, db, "FLUSH BINARY LOGS")
	var cur string
	var p any
	rows, err := db.Query("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	vals[0], vals[1] = &cur, &p
	for i := 2; i < len(vals); i++ {
		vals[i] = new(any)
	}
	for rows.Next() {
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	// The server keeps a file a dump thread still reads (the closed
	// source's thread may linger a moment): purge until the file is gone.
	for i := 0; ; i++ {
		exec(t, db, "PURGE BINARY LOGS TO '"+cur+"'")
		var first string
		var size any
		if err := db.QueryRow("SHOW BINARY LOGS").Scan(&first, &size); err != nil {
			t.Fatal(err)
		}
		if first == cur {
			break
		}
		if i == 200 {
			t.Fatalf("binlog %s not purged (still first: %s)", old, first)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w := wirePosition{Flavor: pos.Flavor, File: old, Pos: pos.Pos, Schemas: encodeSchemas(pos.Schemas)}
	s2 := newTestSource(t, []string{full}, nil)
	if err := s2.Open(context.Background(), w.encode()); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := s2.Read(ctx)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrBinlogPurged) || !strings.Contains(err.Error(), "purged") {
			t.Fatalf("got %v, want ErrBinlogPurged", err)
		}
		break
	}
	// With when_needed the source snapshots again instead, then streams.
	s3 := newTestSource(t, []string{full}, func(c *Config) { c.Snapshot = SnapshotWhenNeeded })
	if err := s3.Open(context.Background(), w.encode()); err != nil {
		t.Fatal(err)
	}
	defer s3.Close(context.Background())
	st3 := newState()
	readUntil(t, s3, st3, func(st *state) bool { return st.snapshots["last"] == 1 })
	exec(t, db, q("INSERT INTO $T VALUES (2)"))
	readUntil(t, s3, st3, func(st *state) bool { return len(st.rows) == 2 })
	equalRows(t, st3.rows, tableRows(t, db, full))
}

// A snapshot interrupted after some chunks resumes from the last acked
// chunk: with the stream after it, the state equals the tables.
func TestSnapshotResumesByChunk(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	_, full2, q2 := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY, v INT)"), q2("CREATE TABLE $T (k VARCHAR(8) PRIMARY KEY)"))
	for i := range 50 {
		exec(t, db, q(fmt.Sprintf("INSERT INTO $T VALUES (%d, %d)", i, i)), q2(fmt.Sprintf("INSERT INTO $T VALUES ('k%02d')", i)))
	}
	s := newTestSource(t, []string{full, full2}, func(c *Config) { c.MaxBatch = 1 })
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := newState()
	ps := readUntil(t, s, st, func(st *state) bool { return len(st.rows) >= 20 })
	_ = s.Close(context.Background())
	mid, err := decodePosition(ps[len(ps)-1])
	if err != nil || mid.Snap == nil {
		t.Fatalf("want a mid-snapshot position, got %+v, %v", mid, err)
	}
	exec(t, db, q("UPDATE $T SET v = -1 WHERE id = 0"), q("DELETE FROM $T WHERE id = 49"))

	s2 := newTestSource(t, []string{full, full2}, nil)
	if err := s2.Open(context.Background(), ps[len(ps)-1]); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	// The resumed snapshot ends with a "last" record, whatever chunk it
	// resumed at.
	readUntil(t, s2, st, func(st *state) bool { return st.snapshots["last"] > 0 })
	if st.snapshots["last"] != 1 {
		t.Fatalf("snapshot markers %v: want exactly one last", st.snapshots)
	}
	exec(t, db, q("INSERT INTO $T VALUES (1000, 0)"))
	readUntil(t, s2, st, func(st *state) bool { return st.rows[`{"id":1000}`] != "" })
	want := tableRows(t, db, full)
	for k, v := range tableRows(t, db, full2) {
		want[k] = v
	}
	equalRows(t, st.rows, want)
	if p := s2.Progress(); p.Active {
		t.Fatalf("progress still active: %+v", p)
	}
}

// A savepoint inside a transaction is not a transaction boundary: no
// position is emitted between the transaction's rows.
func TestSavepointIsNotABoundary(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY)"))
	s := newTestSource(t, []string{full}, nil)
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	st := newState()
	// The transaction must start after the initial snapshot's consistent
	// point: a snapshot taken after it would (rightly) return its rows as
	// snapshot reads, each batch with a position past the transaction.
	readUntil(t, s, st, func(*state) bool { return !s.Progress().Active })
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{q("INSERT INTO $T VALUES (1)"), "SAVEPOINT sp", q("INSERT INTO $T VALUES (2)"), "ROLLBACK TO sp", q("INSERT INTO $T VALUES (3)")} {
		if _, err := tx.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var txGTID string
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&txGTID); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []string
	for len(got) < 2 {
		b, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			got = append(got, string(r.Key))
		}
		// A batch may carry the position reached before this transaction
		// (a heartbeat's), never one that includes the transaction itself.
		if len(got) == 1 && b.Position != nil {
			p, err := decodePosition(b.Position)
			if err != nil {
				t.Fatal(err)
			}
			if p.GTID == txGTID {
				t.Fatalf("a position covering the transaction (%s) after only %v of it", txGTID, got)
			}
		}
	}
	if strings.Join(got, " ") != `{"id":1} {"id":3}` {
		t.Fatalf("records %v", got)
	}
}
