package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/connectors"
)

// snapPoint is the binlog position a consistent snapshot corresponds to.
type snapPoint struct {
	gtid, file string
	pos        uint32
}

// chunk is one worker's read of one table chunk, sent to the coordinator.
type chunk struct {
	table string
	recs  []connectors.Record
	after json.RawMessage // last key read (JSON array of base64 texts)
	done  bool
}

// snapshot reads the tables not yet done in st under consistent-snapshot
// transactions, in primary-key chunks, and pushes them with positions that
// resume the snapshot (start keeps the binlog position streaming starts
// from). It returns once the last chunk is queued.
//
// Workers (cfg.SnapshotWorkers, one table at a time each) are owned by the
// errgroup and exit when their tables are read or ctx ends.
func (r *runner) snapshot(ctx context.Context, start *position, fresh bool) (*position, error) {
	s := r.s
	var todo []string
	for _, name := range s.cfg.Tables {
		if cs := start.Snap.Tables[name]; cs == nil || !cs.Done {
			todo = append(todo, name)
		}
	}
	workers := min(s.cfg.SnapshotWorkers, max(len(todo), 1))
	conns, point, err := r.beginSnapshot(ctx, workers)
	defer func() {
		for _, c := range conns {
			_, _ = c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			_ = c.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	if fresh {
		start.GTID, start.File, start.Pos = point.gtid, point.file, point.pos
	}
	s.log.Info("snapshot started", "tables", todo, "workers", workers, "gtid", point.gtid, "file", point.file, "pos", point.pos)
	for _, name := range todo {
		var est sql.NullInt64
		d, t := splitTable(name)
		_ = r.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", d, t).Scan(&est)
		s.prog.AddTable(name, est.Int64)
	}
	defer s.prog.Finish()

	g, gctx := errgroup.WithContext(ctx)
	tables := make(chan string, len(todo))
	for _, n := range todo {
		tables <- n
	}
	close(tables)
	out := make(chan chunk, workers)
	base := srcInfo{snapshot: "true", serverID: r.serverID, file: point.file, pos: point.pos, thread: -1}
	for i := range workers {
		conn := conns[i]
		g.Go(func() error { // exits when tables is drained or gctx ends
			enc, si := newEncoder(s.cfg.TopicPrefix), base
			for name := range tables {
				if err := r.readTable(gctx, conn, enc, name, start.Snap.Tables[name], &si, out); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var werr error
	go func() { // owned: ends when every worker returned (out is closed then)
		werr = g.Wait()
		close(out)
	}()

	state := &snapState{Tables: maps.Clone(start.Snap.Tables)}
	if state.Tables == nil {
		state.Tables = map[string]*chunkState{}
	}
	wire := r.wire(start)
	var held *segment
	for c := range out {
		state.Tables[c.table] = &chunkState{Done: c.done, After: c.after}
		s.m.snapshotRows.Add(float64(len(c.recs)))
		s.prog.Add(c.table, int64(len(c.recs)), c.done)
		w := wire
		w.Snap = &snapState{Tables: maps.Clone(state.Tables)}
		if held != nil && len(c.recs) == 0 {
			// Keep holding the last record (for "last"); the newer
			// position covers it too.
			held.pos = w.encode()
			continue
		}
		if held != nil {
			if err := s.q.push(ctx, *held); err != nil {
				drain(out)
				return nil, err
			}
		}
		held = &segment{recs: c.recs, pos: w.encode()}
	}
	if werr != nil {
		return nil, werr
	}
	// The last snapshot record says "last"; its position ends the snapshot.
	seg := segment{pos: wire.encode()}
	if held == nil || len(held.recs) == 0 {
		// A resumed snapshot can have nothing left to read (the last chunk
		// was full, or every table was done but the end not acknowledged):
		// re-read the last row of the last non-empty table, under the same
		// snapshot, to carry "last" (a duplicate read event, harmless).
		rec, err := r.lastRecord(ctx, conns[0], base)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			if held == nil {
				held = &segment{}
			}
			held.recs = append(held.recs, *rec)
		}
	}
	if held != nil {
		seg.recs = held.recs
		if n := len(seg.recs); n > 0 {
			v := seg.recs[n-1].Value
			if i := bytes.LastIndex(v, []byte(`"snapshot":"true"`)); i >= 0 {
				nv := append(append(append([]byte{}, v[:i]...), `"snapshot":"last"`...), v[i+len(`"snapshot":"true"`):]...)
				seg.recs[n-1].Value = nv
			}
		}
	}
	if err := s.q.push(ctx, seg); err != nil {
		return nil, err
	}
	end := *start
	end.Snap = nil
	s.log.Info("snapshot finished", "rows", s.prog.Snapshot().RowsDone)
	return &end, nil
}

// lastRecord reads the row with the highest key of the last non-empty
// configured table through conn's snapshot transaction; nil when every
// table is empty.
func (r *runner) lastRecord(ctx context.Context, conn *sql.Conn, si srcInfo) (*connectors.Record, error) {
	enc := newEncoder(r.s.cfg.TopicPrefix)
	for i := len(r.s.cfg.Tables) - 1; i >= 0; i-- {
		name := r.s.cfg.Tables[i]
		sc := r.current[name]
		cols := make([]string, len(sc.Cols))
		for i, c := range sc.Cols {
			cols[i] = quoteIdent(c.Name)
		}
		keys := make([]string, len(sc.Key))
		for i, k := range sc.Key {
			keys[i] = quoteIdent(sc.Cols[k].Name) + " DESC"
		}
		q := "SELECT " + strings.Join(cols, ",") + " FROM " + quoteIdent(sc.DB) + "." + quoteIdent(sc.Name) +
			" ORDER BY " + strings.Join(keys, ",") + " LIMIT 1"
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		if !rows.Next() {
			err := rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("snapshot of %s: %w", name, err)
			}
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		vals := make([]any, len(cols))
		for i := range sc.Cols {
			vals[i] = textValue(&sc.Cols[i], raw[i])
		}
		si.tsMs = time.Now().UnixMilli()
		recs, err := enc.encode(nil, newTable(r.s.cfg.TopicPrefix, sc), connectors.OpRead, nil, vals, &si)
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		return &recs[0], nil
	}
	return nil, nil
}

func drain(c <-chan chunk) {
	for range c {
	}
}

// beginSnapshot opens n connections whose transactions all see the same
// consistent snapshot, and the binlog position it corresponds to.
//
// MariaDB with one worker needs no lock: START TRANSACTION WITH CONSISTENT
// SNAPSHOT makes binlog_snapshot_file/position (SHOW STATUS) consistent with
// the transaction. Otherwise a global read lock is held only while the n
// transactions start and the position is read (milliseconds).
func (r *runner) beginSnapshot(ctx context.Context, n int) ([]*sql.Conn, snapPoint, error) {
	var conns []*sql.Conn
	for range n {
		c, err := r.db.Conn(ctx)
		if err != nil {
			return conns, snapPoint{}, fmt.Errorf("opening snapshot connection: %w", err)
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return conns, snapPoint{}, fmt.Errorf("starting snapshot: %w", err)
		}
	}
	begin := func(c *sql.Conn) error {
		_, err := c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
		return err
	}
	if r.flavor == FlavorMariaDB && n == 1 {
		if err := begin(conns[0]); err != nil {
			return conns, snapPoint{}, fmt.Errorf("starting snapshot: %w", err)
		}
		var p snapPoint
		var name, file, pos string
		if err := conns[0].QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_file'").Scan(&name, &file); err != nil {
			return conns, p, fmt.Errorf("reading snapshot position: %w", err)
		}
		if err := conns[0].QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_position'").Scan(&name, &pos); err != nil {
			return conns, p, fmt.Errorf("reading snapshot position: %w", err)
		}
		var gtid sql.NullString
		if err := r.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, pos).Scan(&gtid); err != nil {
			return conns, p, fmt.Errorf("reading snapshot GTID position: %w", err)
		}
		var u uint64
		_, _ = fmt.Sscan(pos, &u)
		return conns, snapPoint{gtid: gtid.String, file: file, pos: uint32(u)}, nil
	}
	lock, err := r.db.Conn(ctx)
	if err != nil {
		return conns, snapPoint{}, fmt.Errorf("opening lock connection: %w", err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return conns, snapPoint{}, fmt.Errorf("%w: FLUSH TABLES WITH READ LOCK (needs RELOAD): %v", ErrPrerequisite, err)
	}
	lockedAt := time.Now()
	defer func() {
		_, _ = lock.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
		r.s.log.Debug("global read lock released", "held", time.Since(lockedAt))
	}()
	for _, c := range conns {
		if err := begin(c); err != nil {
			return conns, snapPoint{}, fmt.Errorf("starting snapshot: %w", err)
		}
	}
	p, err := currentPoint(ctx, lock, r.flavor)
	return conns, p, err
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// currentPoint reads the server's binlog end: file, pos and the GTID set
// (empty when GTIDs are off on MySQL).
func currentPoint(ctx context.Context, q querier, flavor string) (snapPoint, error) {
	var p snapPoint
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		rows, err = q.QueryContext(ctx, "SHOW BINARY LOG STATUS") // MySQL 8.4+
	}
	if err != nil {
		return p, fmt.Errorf("reading binlog position: %w", err)
	}
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return p, err
		}
		p.file = string(vals[0])
		var u uint64
		_, _ = fmt.Sscan(string(vals[1]), &u)
		p.pos = uint32(u)
	}
	rows.Close()
	if p.file == "" {
		return p, fmt.Errorf("%w: SHOW MASTER STATUS is empty: binary logging is off", ErrPrerequisite)
	}
	var gtid sql.NullString
	if flavor == FlavorMariaDB {
		err = q.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&gtid)
	} else {
		var mode sql.NullString
		if err = q.QueryRowContext(ctx, "SELECT @@gtid_mode").Scan(&mode); err == nil && strings.EqualFold(mode.String, "ON") {
			err = q.QueryRowContext(ctx, "SELECT @@gtid_executed").Scan(&gtid)
		}
	}
	if err != nil {
		return p, fmt.Errorf("reading GTID position: %w", err)
	}
	p.gtid = strings.ReplaceAll(gtid.String, "\n", "")
	return p, nil
}

// readTable reads one table in key order, chunk by chunk, from after.
func (r *runner) readTable(ctx context.Context, conn *sql.Conn, enc *encoder, name string, from *chunkState, si *srcInfo, out chan<- chunk) error {
	sc := r.current[name]
	t := newTable(r.s.cfg.TopicPrefix, sc)
	cols := make([]string, len(sc.Cols))
	for i, c := range sc.Cols {
		cols[i] = quoteIdent(c.Name)
	}
	keys := make([]string, len(sc.Key))
	for i, k := range sc.Key {
		keys[i] = quoteIdent(sc.Cols[k].Name)
	}
	base := "SELECT " + strings.Join(cols, ",") + " FROM " + quoteIdent(sc.DB) + "." + quoteIdent(sc.Name)
	order := " ORDER BY " + strings.Join(keys, ",") + fmt.Sprintf(" LIMIT %d", r.s.cfg.ChunkSize)
	var after [][]byte
	if from != nil && len(from.After) > 0 {
		if err := json.Unmarshal(from.After, &after); err != nil || len(after) != len(keys) {
			return fmt.Errorf("%w: snapshot key of %s", ErrPosition, name)
		}
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	vals := make([]any, len(cols))
	for {
		q, args := base+order, []any(nil)
		if after != nil {
			w, a := keysetWhere(keys, after)
			q, args = base+" WHERE "+w+order, a
		}
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("snapshot of %s: %w", name, err)
		}
		var recs []connectors.Record
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("snapshot of %s: %w", name, err)
			}
			for i := range sc.Cols {
				vals[i] = textValue(&sc.Cols[i], raw[i])
			}
			si.tsMs = time.Now().UnixMilli()
			if recs, err = enc.encode(recs, t, connectors.OpRead, nil, vals, si); err != nil {
				rows.Close()
				return fmt.Errorf("snapshot of %s: %w", name, err)
			}
			n++
			if after == nil {
				after = make([][]byte, len(keys))
			}
			for i, k := range sc.Key {
				after[i] = append(after[i][:0], raw[k]...)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("snapshot of %s: %w", name, err)
		}
		done := n < r.s.cfg.ChunkSize
		a, _ := json.Marshal(after)
		select {
		case out <- chunk{table: name, recs: recs, after: a, done: done}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if done {
			return nil
		}
	}
}

// keysetWhere is "rows after key values vals" in key order, expanded
// (k1 > ? OR (k1 = ? AND k2 > ?) ...) since not every server uses an index
// for a row-constructor comparison.
func keysetWhere(keys []string, vals [][]byte) (string, []any) {
	var ors []string
	var args []any
	for i := range keys {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, keys[j]+" = ?")
			args = append(args, vals[j])
		}
		ands = append(ands, keys[i]+" > ?")
		args = append(args, vals[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
