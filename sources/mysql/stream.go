package mysql

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/connectors"
)

// runner is one Open's run: the snapshot (when planned), then the stream.
// Its fields are owned by the run goroutine, except current, which the
// snapshot workers only read.
type runner struct {
	s        *Source
	db       *sql.DB
	flavor   string
	serverID uint32
	current  map[string]*tableSchema // schemas as the server has them now
	tls      *tls.Config             // of the binlog connection; nil: plaintext (as the DSN)
}

// run plans from pos and runs until ctx ends or an error.
func (r *runner) run(ctx context.Context, pos *position) error {
	s := r.s
	var id int64
	if err := r.db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
		return fmt.Errorf("reading server_id: %w", err)
	}
	r.serverID = uint32(id)
	for {
		var err error
		switch {
		case pos == nil:
			pos, err = r.snapshot(ctx, &position{Flavor: r.flavor, Schemas: r.current, Snap: &snapState{}}, true)
		case pos.Snap != nil:
			pos, err = r.snapshot(ctx, pos, false)
		}
		if err != nil {
			return err
		}
		if s.cfg.Snapshot == SnapshotInitialOnly {
			<-ctx.Done() // nothing more to produce
			return ctx.Err()
		}
		// Tables captured now: as of the position when it has them; a table
		// added to the pipeline since is streamed from here on, without a
		// snapshot (DESIGN.md); one removed is forgotten.
		schemas := map[string]*tableSchema{}
		for name, sc := range r.current {
			if old := pos.Schemas[name]; old != nil {
				sc = old
			} else if pos.Schemas != nil {
				s.log.Warn("table added to the pipeline is streamed without a snapshot", "table", name)
			}
			schemas[name] = sc
		}
		pos.Schemas = schemas
		err = r.stream(ctx, pos)
		if errors.Is(err, ErrBinlogPurged) && s.cfg.Snapshot == SnapshotWhenNeeded {
			s.log.Warn("binlog purged past the stored position: snapshotting again", "err", err)
			pos = nil
			continue
		}
		return err
	}
}

// debugHandler logs go-mysql's records at debug level (it logs INFO lines
// for routine reconnects and positions).
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

// streamState is the stream's position bookkeeping.
type streamState struct {
	set     gomysql.GTIDSet // executed set (nil: GTIDs off)
	file    string
	schemas map[string]*tableSchema
	tables  map[string]*table
	wire    wirePosition // schemas cached encoded
	routed  []string     // outbox ids routed in the open transaction (cleanup)
	// known is every column seen per table (positions, DDL reloads), by
	// name: what schemaAt builds a schema of an older row from.
	known map[string]map[string]column
}

// learn records the columns of sc in st.known.
func (st *streamState) learn(name string, sc *tableSchema) {
	if st.known == nil {
		st.known = map[string]map[string]column{}
	}
	m := st.known[name]
	if m == nil {
		m = map[string]column{}
		st.known[name] = m
	}
	for _, c := range sc.Cols {
		m[c.Name] = c
	}
}

func sameColumns(sc *tableSchema, names []string) bool {
	if len(sc.Cols) != len(names) {
		return false
	}
	for i := range names {
		if sc.Cols[i].Name != names[i] {
			return false
		}
	}
	return true
}

// schemaAt makes the table's schema the one the table map describes (its
// column names, in order; binlog_row_metadata=FULL), with each column's
// type from the columns seen so far, so rows written before a later DDL
// decode with their own columns. A column never seen (added and dropped
// while the source was away) maps as text (kOther). The new schema goes
// into the next Position.
func (r *runner) schemaAt(st *streamState, name string, tm *replication.TableMapEvent, names []string) (*table, error) {
	old := st.schemas[name]
	sc := &tableSchema{DB: old.DB, Name: old.Name, Cols: make([]column, len(names))}
	idx := map[string]int{}
	for i, n := range names {
		c, ok := st.known[name][n]
		if !ok {
			c = column{Name: n, Kind: kOther}
			r.s.log.Warn("column unknown to the schema history is captured as text", "table", name, "column", n)
		}
		sc.Cols[i] = c
		idx[n] = i
	}
	for _, k := range tm.PrimaryKey {
		if int(k) < len(names) {
			sc.Key = append(sc.Key, int(k))
		}
	}
	if len(sc.Key) == 0 { // no key metadata: the key columns by name
		for _, k := range old.Key {
			i, ok := idx[old.Cols[k].Name]
			if !ok {
				return nil, fmt.Errorf("key column %q is not in the row's columns %v", old.Cols[k].Name, names)
			}
			sc.Key = append(sc.Key, i)
		}
	}
	st.schemas[name] = sc
	t := newTable(r.s.cfg.TopicPrefix, sc)
	st.tables[name] = t
	st.wire.Schemas = encodeSchemas(st.schemas)
	r.s.log.Info("table schema taken from the binlog's table map", "table", name, "columns", len(names))
	return t, nil
}

// stream reads the binlog from pos and pushes one segment per transaction
// (empty ones rate-limited) until ctx ends or an error.
func (r *runner) stream(ctx context.Context, pos *position) error {
	s := r.s
	cfg := replication.BinlogSyncerConfig{
		ServerID: s.cfg.ServerID, Flavor: r.flavor,
		Host: hostOf(s.dsn.Addr), Port: portOf(s.dsn.Addr), User: s.dsn.User, Password: s.dsn.Passwd,
		Charset: "utf8mb4", ParseTime: false, TimestampStringLocation: time.UTC, UseDecimal: false,
		HeartbeatPeriod: s.cfg.HeartbeatPeriod, ReadTimeout: 3 * s.cfg.HeartbeatPeriod,
		DisableRetrySync: true, MaxReconnectAttempts: 1,
		TLSConfig: r.tls,
		Logger:    slog.New(debugHandler{s.log.Handler()}),
		RowsEventDecodeFunc: func(e *replication.RowsEvent, data []byte) (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("%w: panic: %v", ErrDecode, p)
				}
			}()
			return e.Decode(data)
		},
	}
	if r.flavor == FlavorMariaDB {
		cfg.Flavor = gomysql.MariaDBFlavor
	} else {
		cfg.Flavor = gomysql.MySQLFlavor
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()
	st := &streamState{file: pos.File, schemas: maps.Clone(pos.Schemas), tables: map[string]*table{}}
	for name, sc := range st.schemas {
		st.tables[name] = newTable(s.cfg.TopicPrefix, sc)
		if cur := r.current[name]; cur != nil {
			st.learn(name, cur)
		}
		st.learn(name, sc) // the position's columns win over today's
	}
	st.wire = wirePosition{Flavor: r.flavor, File: pos.File, Pos: pos.Pos, Schemas: encodeSchemas(st.schemas)}
	var streamer *replication.BinlogStreamer
	var err error
	if pos.GTID != "" {
		if st.set, err = parseGTIDSet(r.flavor, pos.GTID); err != nil {
			return err
		}
		st.wire.GTID = pos.GTID
		streamer, err = syncer.StartSyncGTID(st.set.Clone())
	} else {
		streamer, err = syncer.StartSync(gomysql.Position{Name: pos.File, Pos: pos.Pos})
	}
	if err != nil {
		s.m.connErrors.Inc()
		return fmt.Errorf("starting binlog stream: %w", tlsError(err))
	}
	s.log.Info("streaming binlog", "gtid", pos.GTID, "file", pos.File, "binlog_pos", pos.Pos)
	return r.loop(ctx, streamer, st)
}

// loop is the single owner of st: it reads events in order.
func (r *runner) loop(ctx context.Context, streamer *replication.BinlogStreamer, st *streamState) error {
	s := r.s
	enc := newEncoder(s.cfg.TopicPrefix)
	var (
		recs     []connectors.Record
		gtid     string
		thread   int64 = -1
		lastPush time.Time
		inTxn    bool
	)
	commit := func(h *replication.EventHeader) error {
		if gtid != "" && st.set != nil {
			if err := st.set.Update(gtid); err != nil {
				return fmt.Errorf("%w: GTID %s: %v", ErrDecode, gtid, err)
			}
			st.wire.GTID = st.set.String()
		}
		st.wire.File, st.wire.Pos = st.file, h.LogPos
		inTxn, gtid, thread = false, "", -1
		if len(recs) == 0 && time.Since(lastPush) < time.Second {
			return nil
		}
		if len(st.routed) > 0 {
			// Before the push: Ack can only follow it.
			s.cleaner.Add(binlogSeq(st.wire.File, st.wire.Pos), st.routed...)
			st.routed = st.routed[:0]
		}
		seg := segment{recs: recs, pos: st.wire.encode()}
		recs, lastPush = nil, time.Now()
		return s.q.push(ctx, seg)
	}
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.m.connErrors.Inc()
			var me *gomysql.MyError
			if errors.As(err, &me) && me.Code == 1236 {
				return fmt.Errorf("%w: %s", ErrBinlogPurged, me.Message)
			}
			return fmt.Errorf("reading binlog at %s:%d: %w", st.file, st.wire.Pos, err)
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			st.file = string(e.NextLogName)
			if ev.Header.Timestamp != 0 && !inTxn { // a real rotation: the position moves to the new file
				st.wire.File, st.wire.Pos = st.file, uint32(e.Position)
			}
		case *replication.GTIDEvent:
			inTxn = true
			if gtid, err = mysqlGTID(ev.Header.EventType, e); err != nil {
				return fmt.Errorf("%w: GTID event at %s:%d: %v", ErrDecode, st.file, ev.Header.LogPos, err)
			}
		case *replication.GtidTaggedLogEvent:
			// go-mysql's GTID sets have no tags: the set could not record
			// this transaction, and a resume would repeat or skip it.
			return fmt.Errorf("%w: tagged GTID %s:%d at %s:%d: tagged GTIDs (MySQL 8.4) are not supported", ErrDecode, e.Tag, e.GNO, st.file, ev.Header.LogPos)
		case *replication.MariadbGTIDEvent:
			inTxn = true
			gtid = e.GTID.String()
		case *replication.QueryEvent:
			q := string(e.Query)
			if strings.EqualFold(q, "BEGIN") {
				inTxn, thread = true, int64(e.SlaveProxyID)
				continue
			}
			if inTransactionStatement(q) {
				continue // SAVEPOINT and friends: not a boundary, not DDL
			}
			if db, name, ok := truncatedTable(q, string(e.Schema)); ok {
				// TRUNCATE changes no schema: an op "t" event for a captured
				// table (not the outbox: its deletions are not events).
				t := st.tables[db+"."+name]
				if rt := s.cfg.Outbox; t != nil && s.cfg.Truncate == TruncateEvent && (rt == nil || rt.Table() != db+"."+name) {
					si := srcInfo{tsMs: int64(ev.Header.Timestamp) * 1000, snapshot: "false", serverID: ev.Header.ServerID,
						gtid: gtid, file: st.file, pos: ev.Header.LogPos - ev.Header.EventSize, thread: int64(e.SlaveProxyID)}
					if recs, err = enc.encode(recs, t, connectors.OpTruncate, nil, nil, &si); err != nil {
						return fmt.Errorf("%w: truncate of %s: %v", ErrDecode, t.s.fullName(), err)
					}
				}
			} else if !strings.EqualFold(q, "COMMIT") {
				if err := r.ddl(ctx, st, string(e.Schema), q); err != nil {
					return err
				}
			}
			if err := commit(ev.Header); err != nil {
				return err
			}
		case *replication.XIDEvent:
			if err := commit(ev.Header); err != nil {
				return err
			}
		case *replication.RowsEvent:
			if recs, err = r.rows(enc, st, ev.Header, e, recs, gtid, thread); err != nil {
				return err
			}
		default:
			if ev.Header.EventType == replication.HEARTBEAT_EVENT || ev.Header.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
				if !inTxn && time.Since(lastPush) >= s.cfg.HeartbeatPeriod/2 {
					lastPush = time.Now()
					if err := s.q.push(ctx, segment{pos: st.wire.encode()}); err != nil {
						return err
					}
				}
			}
		}
	}
}

// rows turns one rows event of a captured table into records.
func (r *runner) rows(enc *encoder, st *streamState, h *replication.EventHeader, e *replication.RowsEvent, recs []connectors.Record, gtid string, thread int64) (out []connectors.Record, err error) {
	name := string(e.Table.Schema) + "." + string(e.Table.Table)
	t := st.tables[name]
	if t == nil {
		return recs, nil
	}
	if names := e.Table.ColumnNameString(); len(names) > 0 && !sameColumns(t.s, names) {
		// binlog_row_metadata=FULL: the table map names the columns as
		// they were when the row was written (DESIGN.md "Schema history").
		if t, err = r.schemaAt(st, name, e.Table, names); err != nil {
			return recs, fmt.Errorf("%w: %s at %s:%d: %v", ErrDecode, name, st.file, h.LogPos, err)
		}
	}
	if rt := r.s.cfg.Outbox; rt != nil && name == rt.Table() {
		return r.route(st, h, e, t, recs)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s at %s:%d: panic: %v", ErrDecode, t.s.fullName(), st.file, h.LogPos, p)
		}
	}()
	var op connectors.Op
	step := 1
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
		op = connectors.OpCreate
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2:
		op, step = connectors.OpUpdate, 2
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2:
		op = connectors.OpDelete
	default:
		return recs, fmt.Errorf("%w: %s at %s:%d: unsupported rows event %s (partial JSON updates need binlog_row_value_options='')", ErrDecode, t.s.fullName(), st.file, h.LogPos, h.EventType)
	}
	cols := t.s.Cols
	si := srcInfo{tsMs: int64(h.Timestamp) * 1000, snapshot: "false", serverID: h.ServerID, gtid: gtid,
		file: st.file, pos: h.LogPos - h.EventSize, thread: thread}
	// The images are encoded before the next row, so two buffers serve all rows.
	bufs := [2][]any{make([]any, len(cols)), make([]any, len(cols))}
	mapRow := func(raw []any, b int) ([]any, error) {
		if len(raw) != len(cols) {
			return nil, fmt.Errorf("%w: %s at %s:%d: row has %d columns, schema %d (a DDL on the table this source could not replay, with more DDL after it? set binlog_row_metadata=FULL so each event names its columns)", ErrDecode, t.s.fullName(), st.file, h.LogPos, len(raw), len(cols))
		}
		out := bufs[b]
		for i := range cols {
			out[i] = binlogValue(&cols[i], raw[i])
		}
		return out, nil
	}
	for i := 0; i+step <= len(e.Rows); i += step {
		si.row = i / step
		a, err := mapRow(e.Rows[i], 0)
		if err != nil {
			return recs, err
		}
		var before, after []any
		switch op {
		case connectors.OpCreate:
			after = a
		case connectors.OpDelete:
			before = a
		case connectors.OpUpdate:
			before = a
			if after, err = mapRow(e.Rows[i+1], 1); err != nil {
				return recs, err
			}
		}
		if recs, err = enc.encode(recs, t, op, before, after, &si); err != nil {
			return recs, fmt.Errorf("%w: %s at %s:%d: %v", ErrDecode, t.s.fullName(), st.file, h.LogPos, err)
		}
	}
	return recs, nil
}

// route turns the rows inserted into the outbox table into event records
// (updates and deletes are ignored: an outbox is insert-only, and a row
// deleted in its own transaction still routes from its insert). The
// routed ids wait in st.routed for the transaction's commit.
func (r *runner) route(st *streamState, h *replication.EventHeader, e *replication.RowsEvent, t *table, recs []connectors.Record) (out []connectors.Record, err error) {
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
	default:
		return recs, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: outbox %s at %s:%d: panic: %v", ErrDecode, t.s.fullName(), st.file, h.LogPos, p)
		}
	}()
	cols := t.s.Cols
	ts := time.Unix(int64(h.Timestamp), 0)
	for _, raw := range e.Rows {
		if len(raw) != len(cols) {
			return recs, fmt.Errorf("%w: outbox %s at %s:%d: row has %d columns, schema %d", ErrDecode, t.s.fullName(), st.file, h.LogPos, len(raw), len(cols))
		}
		row := make(connectors.Row, len(cols))
		for i := range cols {
			row[i] = connectors.Column{Name: cols[i].Name, Value: binlogValue(&cols[i], raw[i])}
		}
		rec, err := r.s.cfg.Outbox.RouteRow(row) // owns fresh slices
		if err != nil {
			return recs, fmt.Errorf("outbox table %s at %s:%d: %w", t.s.fullName(), st.file, h.LogPos, err)
		}
		rec.Timestamp = ts
		recs = append(recs, rec)
		if r.s.cfg.OutboxCleanup {
			st.routed = append(st.routed, string(rec.Headers[0].Value)) // "id" comes first
		}
	}
	return recs, nil
}

// ddl updates the schemas of captured tables a DDL statement may touch, so
// later events decode with the new columns; the next Position carries them.
// An ALTER that applyAlter understands is replayed on the schema held;
// otherwise the server's current schema is taken, exact unless another DDL
// on the table followed this one (DESIGN.md "Schema history").
func (r *runner) ddl(ctx context.Context, st *streamState, db, q string) error {
	lq := strings.ToLower(q)
	changed := false
	for name, sc := range st.schemas {
		if !strings.Contains(lq, strings.ToLower(sc.Name)) {
			continue
		}
		fresh, err := loadSchema(ctx, r.db, sc.DB, sc.Name, r.flavor == FlavorMariaDB)
		if err != nil {
			if errors.Is(err, ErrNoTable) {
				r.s.log.Warn("captured table dropped or renamed", "table", name, "query", q)
				continue
			}
			return err
		}
		st.learn(name, fresh)
		if replayed, ok := applyAlter(q, db, sc, st.known[name]); ok {
			// The statement's own effect, not the server's schema of now:
			// exact even with more DDL on the table still ahead.
			fresh = replayed
		}
		st.schemas[name] = fresh
		st.tables[name] = newTable(r.s.cfg.TopicPrefix, fresh)
		changed = true
		r.s.log.Info("table schema changed", "table", name, "database", db)
	}
	if changed {
		st.wire.Schemas = encodeSchemas(st.schemas)
	}
	return nil
}

// wire is the encodable form of p (schemas of the stream start).
func (r *runner) wire(p *position) wirePosition {
	return wirePosition{Flavor: p.Flavor, GTID: p.GTID, File: p.File, Pos: p.Pos, Schemas: encodeSchemas(p.Schemas)}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func portOf(addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 3306
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 3306
	}
	return uint16(n)
}

// inTransactionStatement reports statements logged inside a transaction
// that neither end it nor change a schema.
func inTransactionStatement(q string) bool {
	u := strings.ToUpper(strings.TrimSpace(q))
	for _, p := range []string{"SAVEPOINT", "ROLLBACK TO", "RELEASE SAVEPOINT", "XA "} {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// truncatedTable recognizes `TRUNCATE [TABLE] [db.]name` (identifiers
// optionally back-quoted, comments before it allowed) and returns the
// table, qualified with defaultDB when the statement does not name one.
func truncatedTable(q, defaultDB string) (db, name string, ok bool) {
	s := skipSpaceAndComments(q)
	if len(s) < 8 || !strings.EqualFold(s[:8], "TRUNCATE") {
		return "", "", false
	}
	s = skipSpaceAndComments(s[8:])
	if len(s) > 5 && strings.EqualFold(s[:5], "TABLE") && (s[5] == ' ' || s[5] == '\t' || s[5] == '\n' || s[5] == '`' || s[5] == '/') {
		s = skipSpaceAndComments(s[5:])
	}
	first, rest, ok := identifier(s)
	if !ok {
		return "", "", false
	}
	if strings.HasPrefix(rest, ".") {
		second, rest2, ok := identifier(rest[1:])
		if !ok {
			return "", "", false
		}
		db, name, rest = first, second, rest2
	} else {
		db, name = defaultDB, first
	}
	if r := strings.TrimRight(skipSpaceAndComments(rest), "; \t\r\n"); r != "" || db == "" {
		return "", "", false
	}
	return db, name, true
}

// identifier reads one identifier: `back“quoted` or bare.
func identifier(s string) (id, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if s[0] == '`' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '`' {
				if i+1 < len(s) && s[i+1] == '`' {
					b.WriteByte('`')
					i++
					continue
				}
				return b.String(), s[i+1:], b.Len() > 0
			}
			b.WriteByte(s[i])
		}
		return "", "", false
	}
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '$' || s[i] >= 0x80 || s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	return s[:i], s[i:], i > 0
}

// skipSpaceAndComments drops leading white space and /* */ comments.
func skipSpaceAndComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "/*") {
			return s
		}
		end := strings.Index(s[2:], "*/")
		if end < 0 {
			return ""
		}
		s = s[2+end+2:]
	}
}

// mysqlGTID is the `uuid:gno` of a MySQL GTID event; "" for the anonymous
// GTID event MySQL writes before each transaction when GTIDs are off (its
// zero uuid and gno 0 name no transaction and must not reach a set or an
// envelope).
func mysqlGTID(typ replication.EventType, e *replication.GTIDEvent) (string, error) {
	if typ == replication.ANONYMOUS_GTID_EVENT || e.GNO == 0 {
		return "", nil
	}
	next, err := e.GTIDNext()
	if err != nil {
		return "", err
	}
	return next.String(), nil
}
