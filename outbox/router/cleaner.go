package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// ExecFunc runs one statement: pgx's conn.Exec or database/sql's
// db.ExecContext adapted to drop the result.
type ExecFunc func(ctx context.Context, query string, args ...any) error

// Dialect picks the DELETE statement's SQL.
type Dialect int

// Dialects a Cleaner speaks.
const (
	Postgres Dialect = iota + 1 // DELETE … WHERE id = ANY($1), ids as one array parameter ([]string)
	MySQL                       // DELETE … WHERE id IN (?, …)
)

// DefaultCleanBatch is how many ids one DELETE removes at most.
const DefaultCleanBatch = 1000

// CleanerConfig configures a Cleaner.
type CleanerConfig struct {
	Table     string  // schema.table (Postgres) or db.table / table (MySQL)
	IDColumn  string  // default "id"
	Dialect   Dialect // required
	Exec      ExecFunc
	BatchSize int // ids per DELETE; <= 0: DefaultCleanBatch
}

// Cleaner deletes routed outbox rows once their records are durable in the
// broker, so the outbox table stays small. The source Adds each routed id
// with the position (as an ordered number: Postgres commit LSN, a binlog
// sequence) of the batch that carried it, and calls Ack from its own Ack
// with the acknowledged position.
//
// Cleanup is an optimization, never a correctness step: a failed DELETE
// keeps the ids pending for the next Ack, and rows it never removes are
// still routed exactly once (they are not re-inserted).
type Cleaner struct {
	cfg   CleanerConfig
	query func(n int) string

	mu      sync.Mutex
	pending []pendingID // ordered by seq (Add is called in stream order)
}

type pendingID struct {
	seq uint64
	id  string
}

// NewCleaner checks cfg and returns a Cleaner.
func NewCleaner(cfg CleanerConfig) (*Cleaner, error) {
	if cfg.Exec == nil {
		return nil, fmt.Errorf("%w: cleaner: Exec is required", ErrConfig)
	}
	if cfg.IDColumn == "" {
		cfg.IDColumn = "id"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultCleanBatch
	}
	c := &Cleaner{cfg: cfg}
	switch cfg.Dialect {
	case Postgres:
		tbl, err := quoteQualified(cfg.Table, '"')
		if err != nil {
			return nil, err
		}
		q := "DELETE FROM " + tbl + " WHERE " + quoteIdent(cfg.IDColumn, '"') + " = ANY($1)"
		c.query = func(int) string { return q }
	case MySQL:
		tbl, err := quoteQualified(cfg.Table, '`')
		if err != nil {
			return nil, err
		}
		head := "DELETE FROM " + tbl + " WHERE " + quoteIdent(cfg.IDColumn, '`') + " IN ("
		c.query = func(n int) string {
			return head + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
		}
	default:
		return nil, fmt.Errorf("%w: cleaner: unknown dialect %d", ErrConfig, cfg.Dialect)
	}
	return c, nil
}

// Add remembers ids routed in the batch at position seq. Calls must come in
// stream order (non-decreasing seq).
func (c *Cleaner) Add(seq uint64, ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.pending = append(c.pending, pendingID{seq: seq, id: id})
	}
}

// Pending is how many ids wait for an Ack.
func (c *Cleaner) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Ack deletes every pending id added with seq <= upTo, in batches of
// BatchSize. Call it only with a position the broker acknowledged: every
// record up to upTo is durable. On error the ids not yet deleted stay
// pending. ctx bounds the DELETEs.
func (c *Cleaner) Ack(ctx context.Context, upTo uint64) error {
	// Invariant: ack after durable write.
	c.mu.Lock()
	n := 0
	for n < len(c.pending) && c.pending[n].seq <= upTo {
		n++
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.pending[i].id
	}
	c.mu.Unlock()
	done, err := c.Delete(ctx, ids)
	c.mu.Lock()
	c.pending = c.pending[done:]
	c.mu.Unlock()
	return err
}

// Delete removes the rows with ids, BatchSize per statement, and reports
// how many ids it handled before an error. The caller guarantees the ids'
// records are durable in the broker.
func (c *Cleaner) Delete(ctx context.Context, ids []string) (int, error) {
	// Invariant: ack after durable write.
	done := 0
	for done < len(ids) {
		chunk := ids[done:min(done+c.cfg.BatchSize, len(ids))]
		var err error
		if c.cfg.Dialect == Postgres {
			err = c.cfg.Exec(ctx, c.query(len(chunk)), chunk)
		} else {
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			err = c.cfg.Exec(ctx, c.query(len(chunk)), args...)
		}
		if err != nil {
			return done, fmt.Errorf("deleting %d routed outbox rows from %s: %w", len(chunk), c.cfg.Table, err)
		}
		done += len(chunk)
	}
	return done, nil
}

// quoteQualified quotes "schema.table" (or "table") part by part.
func quoteQualified(name string, q byte) (string, error) {
	parts := strings.Split(name, ".")
	if name == "" || len(parts) > 2 {
		return "", fmt.Errorf("%w: table %q: want table or schema.table", ErrConfig, name)
	}
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("%w: table %q: empty name part", ErrConfig, name)
		}
		parts[i] = quoteIdent(p, q)
	}
	return strings.Join(parts, "."), nil
}

func quoteIdent(s string, q byte) string {
	return string(q) + strings.ReplaceAll(s, string(q), string(q)+string(q)) + string(q)
}
