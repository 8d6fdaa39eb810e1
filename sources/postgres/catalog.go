package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sessionParams make every text form this package parses deterministic:
// ISO dates, ISO 8601 intervals, UTC timestamptz, shortest exact floats.
// They apply to pool sessions and to the walsender (pgoutput's text output
// uses the walsender's settings).
var sessionParams = map[string]string{
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "iso_8601",
	"TimeZone":           "UTC",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
}

// column is one table column as the catalog or a Relation message has it.
type column struct {
	name   string
	typ    *typeInfo
	typmod int32
	isKey  bool // in the record key (primary key, else replica identity index)
	ident  bool // in the replica identity (Relation message flag): what a 'K' old tuple carries
}

// table is one captured table.
type table struct {
	schema, name string
	ident        string // quoted schema.table
	topic        string
	oid          uint32
	cols         []column // catalog columns at Open (snapshot)
	key          []string // key column names in key order; nil: keyless
	estRows      int64
	srcJSON      []byte   // `,"schema":..,"table":..` of the source block (prepare)
	colJSON      [][]byte // `"column":` per column (prepare)
	keyIdx       []int    // index in cols of each key column, in key order
}

func (t *table) fullName() string { return t.schema + "." + t.name }

// newPool sizes the pool for the snapshot workers, the exported-snapshot
// holder (initial_only) and the monitor, so no worker waits for a slot.
func newPool(ctx context.Context, dsn string, workers int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: dsn: %v", ErrConfig, err)
	}
	cfg.MaxConns = max(cfg.MaxConns, int32(workers)+3)
	for k, v := range sessionParams {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// connectReplication opens a replication=database connection. ctx bounds
// only the connect.
func connectReplication(ctx context.Context, dsn string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: dsn: %v", ErrConfig, err)
	}
	cfg.RuntimeParams["replication"] = "database"
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	return pgconn.ConnectConfig(ctx, cfg)
}

// checkPrerequisites reports, all at once, what the server or the user lacks.
func checkPrerequisites(ctx context.Context, pool *pgxpool.Pool, needSlot bool, slot string) error {
	var walLevel string
	var super, repl bool
	var freeSlots int
	// An existing slot of ours needs no free one.
	err := pool.QueryRow(ctx, `SELECT current_setting('wal_level'), r.rolsuper, r.rolreplication,
		current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)
		+ (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)::int
		FROM pg_roles r WHERE r.rolname = current_user`, slot).Scan(&walLevel, &super, &repl, &freeSlots)
	if err != nil {
		return fmt.Errorf("checking prerequisites: %w", err)
	}
	if !needSlot {
		return nil
	}
	var errs []error
	if walLevel != "logical" {
		errs = append(errs, fmt.Errorf("%w: wal_level is %q; set wal_level = logical in postgresql.conf and restart the server", ErrPrerequisite, walLevel))
	}
	if !super && !repl {
		errs = append(errs, fmt.Errorf("%w: the user lacks the REPLICATION attribute (ALTER ROLE <user> REPLICATION)", ErrPrerequisite))
	}
	if freeSlots < 1 {
		errs = append(errs, fmt.Errorf("%w: no free replication slot (raise max_replication_slots)", ErrPrerequisite))
	}
	return errors.Join(errs...)
}

// loadTables reads the configured tables' columns, keys and row estimates,
// and checks SELECT (and, when Sluice manages the publication, ownership).
func loadTables(ctx context.Context, pool *pgxpool.Pool, cfg *Config, types *typeCache) ([]*table, error) {
	var out []*table
	var errs []error
	for _, name := range cfg.Tables {
		schema, rel := splitTable(name)
		t := &table{schema: schema, name: rel, ident: pgx.Identifier{schema, rel}.Sanitize(),
			topic: cfg.TopicPrefix + "." + schema + "." + rel}
		var kind string
		var canSelect, owner bool
		err := pool.QueryRow(ctx, `SELECT c.oid, c.relkind::text, greatest(c.reltuples, 0)::bigint,
			has_table_privilege(c.oid, 'SELECT'), pg_has_role(c.relowner, 'USAGE')
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2`, schema, rel).Scan(&t.oid, &kind, &t.estRows, &canSelect, &owner)
		if errors.Is(err, pgx.ErrNoRows) {
			errs = append(errs, fmt.Errorf("%w: %s", ErrTableNotFound, t.fullName()))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up table %s: %w", t.fullName(), err)
		}
		if kind != "r" && kind != "p" {
			errs = append(errs, fmt.Errorf("%w: %s is not a table (relkind %s)", ErrTableNotFound, t.fullName(), kind))
			continue
		}
		if !canSelect {
			errs = append(errs, fmt.Errorf("%w: no SELECT privilege on %s (GRANT SELECT ON %s TO <user>)", ErrPrerequisite, t.fullName(), t.ident))
		}
		if !owner && !cfg.UseExistingPublication {
			errs = append(errs, fmt.Errorf("%w: the user does not own %s, so it cannot add it to a publication; create the publication as the owner and set use_existing_publication", ErrPrerequisite, t.fullName()))
		}
		rows, err := pool.Query(ctx, `SELECT attname, atttypid, atttypmod FROM pg_attribute
			WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, t.oid)
		if err != nil {
			return nil, fmt.Errorf("reading columns of %s: %w", t.fullName(), err)
		}
		for rows.Next() {
			var c column
			var oid uint32
			if err := rows.Scan(&c.name, &oid, &c.typmod); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading columns of %s: %w", t.fullName(), err)
			}
			c.typ = types.resolve(oid)
			t.cols = append(t.cols, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading columns of %s: %w", t.fullName(), err)
		}
		// The primary key, else the replica identity index.
		keyRows, err := pool.Query(ctx, `SELECT a.attname FROM pg_index i
			CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
			WHERE i.indrelid = $1 AND i.indexrelid = (
				SELECT indexrelid FROM pg_index WHERE indrelid = $1 AND (indisprimary OR indisreplident)
				ORDER BY indisprimary DESC LIMIT 1)
			ORDER BY k.ord`, t.oid)
		if err != nil {
			return nil, fmt.Errorf("reading the key of %s: %w", t.fullName(), err)
		}
		t.key, err = pgx.CollectRows(keyRows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("reading the key of %s: %w", t.fullName(), err)
		}
		if len(t.key) == 0 {
			t.key = nil
			if !cfg.AllowKeyless {
				errs = append(errs, fmt.Errorf("%w: %s (add a primary key, set REPLICA IDENTITY USING INDEX, or allow keyless tables)", ErrNoKey, t.fullName()))
			}
		}
		for _, k := range t.key {
			for i := range t.cols {
				if t.cols[i].name == k {
					t.cols[i].isKey = true
					t.keyIdx = append(t.keyIdx, i)
				}
			}
		}
		out = append(out, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// loadOutboxTable checks the outbox table (table mode) exists and, when
// Sluice manages the publication, that the user owns it. Nil in message
// mode or without an outbox.
func loadOutboxTable(ctx context.Context, pool *pgxpool.Pool, cfg *Config) (*table, error) {
	if cfg.Outbox == nil || cfg.Outbox.Table() == "" {
		return nil, nil
	}
	schema, rel := splitTable(cfg.Outbox.Table())
	t := &table{schema: schema, name: rel, ident: pgx.Identifier{schema, rel}.Sanitize()}
	var kind string
	var owner bool
	err := pool.QueryRow(ctx, `SELECT c.oid, c.relkind::text, pg_has_role(c.relowner, 'USAGE')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, rel).Scan(&t.oid, &kind, &owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w: outbox table %s", ErrTableNotFound, t.fullName())
	case err != nil:
		return nil, fmt.Errorf("looking up outbox table %s: %w", t.fullName(), err)
	case kind != "r" && kind != "p":
		return nil, fmt.Errorf("%w: outbox %s is not a table (relkind %s)", ErrTableNotFound, t.fullName(), kind)
	case !owner && !cfg.UseExistingPublication:
		return nil, fmt.Errorf("%w: the user does not own the outbox table %s, so it cannot add it to a publication; create the publication as the owner and set use_existing_publication", ErrPrerequisite, t.fullName())
	}
	return t, nil
}

// ensurePublication creates the publication for exactly the tables, or
// sets its table list; with UseExistingPublication it only checks that the
// publication exists and covers every table.
func ensurePublication(ctx context.Context, pool *pgxpool.Pool, cfg *Config, tables []*table, log *slog.Logger) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, cfg.Publication).Scan(&exists); err != nil {
		return fmt.Errorf("looking up publication %s: %w", cfg.Publication, err)
	}
	if cfg.UseExistingPublication {
		if !exists {
			return fmt.Errorf("%w: publication %s does not exist (use_existing_publication is set)", ErrPrerequisite, cfg.Publication)
		}
		var errs []error
		for _, t := range tables {
			var in bool
			if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication_tables
				WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)`, cfg.Publication, t.schema, t.name).Scan(&in); err != nil {
				return fmt.Errorf("reading publication %s: %w", cfg.Publication, err)
			}
			if !in {
				errs = append(errs, fmt.Errorf("%w: publication %s does not include %s", ErrPrerequisite, cfg.Publication, t.fullName()))
			}
		}
		return errors.Join(errs...)
	}
	idents := make([]string, len(tables))
	for i, t := range tables {
		idents[i] = t.ident
	}
	pub := pgx.Identifier{cfg.Publication}.Sanitize()
	// Changes of a partitioned table's partitions are published under the
	// table itself, the name Sluice captures.
	qs := []string{"CREATE PUBLICATION " + pub + " FOR TABLE " + strings.Join(idents, ", ") + " WITH (publish_via_partition_root = true)"}
	if exists {
		qs = []string{"ALTER PUBLICATION " + pub + " SET TABLE " + strings.Join(idents, ", "),
			"ALTER PUBLICATION " + pub + " SET (publish_via_partition_root = true)"}
	}
	if len(idents) == 0 { // an outbox of messages only: they need no table
		qs = []string{"CREATE PUBLICATION " + pub}
		if exists {
			var err error
			if qs, err = dropAllTables(ctx, pool, cfg.Publication); err != nil {
				return err
			}
		}
	}
	for _, q := range qs {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrPrerequisite, q, err)
		}
	}
	if !exists {
		log.Info("publication created", "publication", cfg.Publication, "tables", len(tables))
	}
	return nil
}

// dropAllTables returns the statements that empty the publication pub
// (ALTER PUBLICATION ... SET TABLE needs at least one table).
func dropAllTables(ctx context.Context, pool *pgxpool.Pool, pub string) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`, pub)
	if err != nil {
		return nil, fmt.Errorf("reading publication %s: %w", pub, err)
	}
	var qs []string
	var schema, name string
	_, err = pgx.ForEachRow(rows, []any{&schema, &name}, func() error {
		qs = append(qs, "ALTER PUBLICATION "+pgx.Identifier{pub}.Sanitize()+" DROP TABLE "+pgx.Identifier{schema, name}.Sanitize())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading publication %s: %w", pub, err)
	}
	return qs, nil
}

// newTables lists the tables the publication does not include (all of
// them when it does not exist yet).
func newTables(ctx context.Context, pool *pgxpool.Pool, pub string, tables []*table) ([]string, error) {
	var out []string
	for _, t := range tables {
		var in bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication_tables
			WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)`, pub, t.schema, t.name).Scan(&in); err != nil {
			return nil, fmt.Errorf("reading publication %s: %w", pub, err)
		}
		if !in {
			out = append(out, t.fullName())
		}
	}
	return out, nil
}

// slotState is the slot as pg_replication_slots has it; ok false: missing.
type slotState struct {
	ok                 bool
	active             bool
	confirmed, restart uint64
}

func readSlot(ctx context.Context, pool *pgxpool.Pool, slot string) (slotState, error) {
	var s slotState
	var confirmed, restart *string
	err := pool.QueryRow(ctx, `SELECT active, confirmed_flush_lsn::text, restart_lsn::text
		FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&s.active, &confirmed, &restart)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading slot %s: %w", slot, err)
	}
	s.ok = true
	if confirmed != nil {
		s.confirmed = uint64(mustLSN(*confirmed))
	}
	if restart != nil {
		s.restart = uint64(mustLSN(*restart))
	}
	return s, nil
}

// typeCache resolves type OIDs over pg_type, loading it whole once and again
// on a miss (a type created after Open).
type typeCache struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu     sync.Mutex
	types  map[uint32]*typeInfo
	warned map[uint32]bool
}

func newTypeCache(pool *pgxpool.Pool, log *slog.Logger) *typeCache {
	return &typeCache{pool: pool, log: log, types: map[uint32]*typeInfo{}, warned: map[uint32]bool{}}
}

func (c *typeCache) load(ctx context.Context) error {
	rows, err := c.pool.Query(ctx, `SELECT oid, typname, typtype::text, typcategory::text, typelem, typbasetype, typdelim::text FROM pg_type`)
	if err != nil {
		return fmt.Errorf("loading pg_type: %w", err)
	}
	type raw struct {
		name, typtype, category, delim string
		elem, base                     uint32
	}
	all := map[uint32]raw{}
	for rows.Next() {
		var oid uint32
		var r raw
		if err := rows.Scan(&oid, &r.name, &r.typtype, &r.category, &r.elem, &r.base, &r.delim); err != nil {
			rows.Close()
			return fmt.Errorf("loading pg_type: %w", err)
		}
		all[oid] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loading pg_type: %w", err)
	}
	var kindOf func(oid uint32, depth int) *typeInfo
	kindOf = func(oid uint32, depth int) *typeInfo {
		r := all[oid]
		ti := &typeInfo{oid: oid, name: r.name, kind: kindOther}
		if k, ok := builtinKinds[oid]; ok {
			ti.kind = k
			return ti
		}
		switch {
		case depth > 8:
		case r.typtype == "d":
			base := kindOf(r.base, depth+1)
			base.oid, base.name = oid, r.name
			return base
		case r.typtype == "e":
			ti.kind = kindString
		case r.category == "A" && r.elem != 0:
			ti.kind, ti.elem = kindArray, r.elem
			if r.delim != "" {
				ti.delim = r.delim[0]
			}
		case r.category == "S":
			ti.kind = kindString // citext and other string types
		}
		return ti
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for oid := range all {
		c.types[oid] = kindOf(oid, 0)
	}
	return nil
}

// resolve implements typeResolver. An OID unknown even after a reload maps
// to its text form.
func (c *typeCache) resolve(oid uint32) *typeInfo {
	c.mu.Lock()
	ti, ok := c.types[oid]
	c.mu.Unlock()
	if !ok {
		// A type created after Open (a new column's enum): reload, bounded.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = c.load(ctx) // best effort; a miss is carried as text
		cancel()
		c.mu.Lock()
		ti, ok = c.types[oid]
		if !ok {
			ti = &typeInfo{oid: oid, name: fmt.Sprint(oid), kind: kindOther}
			c.types[oid] = ti
		}
		c.mu.Unlock()
	}
	if ti.kind == kindOther {
		c.mu.Lock()
		if !c.warned[oid] {
			c.warned[oid] = true
			c.log.Warn("type without a JSON mapping: values carried as their text form", "type", ti.name, "oid", oid)
		}
		c.mu.Unlock()
	}
	return ti
}
