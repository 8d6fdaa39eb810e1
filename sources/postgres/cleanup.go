package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/outbox/router"
)

// newCleaner builds the outbox cleaner of table obx and the pool it
// deletes on: its own single connection on the source's (non-replication)
// DSN, opened lazily, so a database that refuses it only delays cleanup.
func newCleaner(cfg *Config, obx *table) (*router.Cleaner, *pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: dsn: %v", ErrConfig, err)
	}
	pc.MaxConns, pc.MinConns = 1, 0
	for k, v := range sessionParams {
		pc.ConnConfig.RuntimeParams[k] = v
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, nil, fmt.Errorf("outbox cleanup connection: %w", err)
	}
	c, err := router.NewCleaner(router.CleanerConfig{
		Table: obx.fullName(), IDColumn: cfg.Outbox.Config().Columns.ID,
		Dialect: router.Postgres, BatchSize: cfg.OutboxCleanBatch,
		Exec: func(ctx context.Context, q string, args ...any) error {
			_, err := pool.Exec(ctx, q, args...)
			return err
		},
	})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return c, pool, nil
}

// checkCleanable warns when a DELETE on the outbox table would be refused
// while it is published: it has no replica identity (no primary key, or
// REPLICA IDENTITY NOTHING). Only a warning: a publication without
// deletes (use_existing_publication) allows the DELETE anyway.
func (s *Source) checkCleanable(ctx context.Context, pool *pgxpool.Pool, obx *table) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT CASE c.relreplident
			WHEN 'f' THEN true WHEN 'i' THEN true WHEN 'n' THEN false
			ELSE EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) END
		FROM pg_class c WHERE c.oid = $1`, obx.oid).Scan(&ok)
	if err == nil && !ok {
		s.log.Warn("outbox cleanup: the outbox table has no replica identity (primary key), so Postgres refuses DELETEs on it while it is published with deletes; rows will stay",
			"table", obx.fullName())
	}
}

// clean deletes routed outbox rows up to the acknowledged bound each time
// Ack signals one, until ctx ends. A failed DELETE is logged; its ids stay
// pending and are retried at the next Ack. It never fails the source.
func (s *Source) clean(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cleanKick:
		}
		// Invariant: ack after durable write. cleanTo only comes from Ack:
		// every routed row at or below it was carried by a record the
		// broker acknowledged.
		upTo := s.cleanTo.Load()
		if err := s.cleaner.Ack(ctx, upTo); err != nil && ctx.Err() == nil {
			s.log.Warn("outbox cleanup failed; retried at the next ack", "err", err, "pending", s.cleaner.Pending())
		}
	}
}
