package builtin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/sources/postgres"
)

// pgSource is the Postgres source with a Check the runtime's health loop
// uses while it streams: the source reconnects by itself when its
// database goes away and learns nothing of a dropped table (pgoutput
// carries no DDL), so without this the status would say "running" through
// both. Check, on its own connection (opened on demand, dropped on error):
//
//   - the database unreachable: an error naming host, port and database,
//     which the runtime shows as state "retrying" until a check passes;
//   - a configured table gone: a *connectors.DegradedError naming it
//     (postgres.ErrTableNotFound), state "degraded"; the other tables keep
//     flowing.
//
// Open, when resuming (a stored position) and some configured tables no
// longer exist (dropped while streaming, or while stopped), opens the
// source on the remaining tables instead of failing the whole pipeline
// over and over: the check keeps reporting the missing ones (degraded).
// On a first start (no position) a missing table still fails Open: it is
// more likely a typo than a drop. Every other method is the embedded
// source's.
type pgSource struct {
	*postgres.Source
	probe  *pgProbe
	cfg    postgres.Config
	newSrc func(postgres.Config) (*postgres.Source, error)
	log    *slog.Logger
}

func (s *pgSource) Open(ctx context.Context, from connectors.Position) error {
	err := s.Source.Open(ctx, from)
	if err == nil || from == nil || !errors.Is(err, postgres.ErrTableNotFound) {
		return err
	}
	missing, merr := s.probe.missing(ctx)
	if merr != nil || len(missing) == 0 || len(missing) == len(s.cfg.Tables) {
		return err // the outbox table, every table, or the probe failed too
	}
	var keep []string
	for _, t := range s.cfg.Tables {
		if !slices.Contains(missing, t) {
			keep = append(keep, t)
		}
	}
	if cerr := s.Source.Close(ctx); cerr != nil {
		s.log.Debug("closing the source that failed to open", "err", cerr)
	}
	cfg := s.cfg
	cfg.Tables = keep
	src, nerr := s.newSrc(cfg)
	if nerr != nil {
		return errors.Join(err, nerr)
	}
	s.Source = src
	s.log.Warn("configured tables are gone; streaming the others (the status stays degraded until they exist again and the source restarts)",
		"missing", strings.Join(missing, ", "), "streaming", strings.Join(keep, ", "))
	return src.Open(ctx, from)
}

var _ connectors.Checker = (*pgSource)(nil)

func (s *pgSource) Check(ctx context.Context) error { return s.probe.check(ctx) }

func (s *pgSource) Close(ctx context.Context) error {
	s.probe.close()
	return s.Source.Close(ctx)
}

// pgProbe holds the check connection. Safe for concurrent use (a health
// check and /readyz may overlap).
type pgProbe struct {
	dsn    string
	where  string   // host:port/database, for errors (never the password)
	tables []string // schema.table as configured

	mu   sync.Mutex
	conn *pgx.Conn
}

func newPGProbe(dsn string, tables []string) *pgProbe {
	p := &pgProbe{dsn: dsn, tables: tables, where: "database"}
	if cfg, err := pgx.ParseConfig(dsn); err == nil {
		p.where = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
	}
	return p
}

// missing returns the configured tables that do not exist.
func (p *pgProbe) missing(ctx context.Context) ([]string, error) {
	if err := p.check(ctx); err != nil {
		var de *connectors.DegradedError
		if !errors.As(err, &de) {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil, nil
	}
	return p.missingLocked(ctx)
}

func (p *pgProbe) check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		c, err := pgx.Connect(ctx, p.dsn)
		if err != nil {
			return fmt.Errorf("postgres %s unreachable: %w", p.where, err)
		}
		p.conn = c
	}
	missing, err := p.missingLocked(ctx)
	if err != nil {
		_ = p.conn.Close(context.WithoutCancel(ctx))
		p.conn = nil
		return fmt.Errorf("postgres %s unreachable: %w", p.where, err)
	}
	if len(missing) > 0 {
		return &connectors.DegradedError{Err: fmt.Errorf("%w: %s (dropped while streaming? its changes stop; the other tables keep flowing)",
			postgres.ErrTableNotFound, strings.Join(missing, ", "))}
	}
	return nil
}

// missingLocked returns the configured tables that do not exist.
func (p *pgProbe) missingLocked(ctx context.Context) ([]string, error) {
	if len(p.tables) == 0 {
		return nil, p.conn.Ping(ctx)
	}
	rows, err := p.conn.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = ANY($1)`, p.tables)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range p.tables {
		if !slices.Contains(found, t) {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

func (p *pgProbe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.Close(context.Background())
		p.conn = nil
	}
}
