package postgres

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/connectors"
)

// chunk is one worker's keyset chunk of one table.
type chunk struct {
	t     *table
	recs  []connectors.Record
	rows  int
	after []*string // key of the last row (text forms); nil when keyless
	done  bool      // the table is finished
}

// snapshot reads p.snapshot under the exported snapshot with
// SnapshotWorkers workers (one table at a time each, keyset chunks of
// ChunkSize rows in key order), and pushes the chunks, in the order they
// complete, with positions checkpointing every table's last key. The last
// row carries snapshot "last"; the final position has no pending tables.
func (s *Source) snapshot(ctx context.Context, p *runPlan, flush uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for _, t := range p.snapshot {
		s.prog.addTable(t.fullName(), t.estRows)
	}
	s.log.Info("snapshot started", "tables", len(p.snapshot), "workers", s.cfg.SnapshotWorkers, "snapshot", p.snapName)
	// Workers read their tables' starting keys from a copy: the loop below
	// rewrites p.progress as chunks complete.
	startAfter := map[string][]*string{}
	for name, tp := range p.progress {
		startAfter[name] = tp.After
	}
	jobs := make(chan *table, len(p.snapshot))
	for _, t := range p.snapshot {
		jobs <- t
	}
	close(jobs)
	results := make(chan chunk, s.cfg.SnapshotWorkers)
	errc := make(chan error, s.cfg.SnapshotWorkers)
	var wg sync.WaitGroup
	for i := 0; i < min(s.cfg.SnapshotWorkers, len(p.snapshot)); i++ {
		wg.Add(1)
		go func() { // owned by wg; exits when jobs is drained or ctx is cancelled
			defer wg.Done()
			if err := s.snapshotWorker(ctx, p, startAfter, jobs, results); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	go func() { // owned by the loop below, which reads results until closed
		wg.Wait()
		close(results)
	}()

	var held *segment
	push := func(seg segment) error { return s.q.push(ctx, seg, time.Second, nil) }
	lastLog := time.Now()
	for c := range results {
		name := c.t.fullName()
		if c.done {
			delete(p.progress, name)
		} else {
			p.progress[name] = &tableProgress{After: c.after}
		}
		s.prog.add(name, int64(c.rows), c.done)
		s.m.snapshotRows.Add(float64(c.rows))
		pos := (&position{Flush: flush, Snap: p.snapLSN, Pending: p.progress}).encode()
		if len(c.recs) == 0 && held != nil {
			held.pos = pos
			continue
		}
		if held != nil {
			if err := push(*held); err != nil {
				return err
			}
		}
		held = &segment{recs: c.recs, pos: pos}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			pr := s.Progress()
			s.log.Info("snapshot progress", "rows", pr.RowsDone, "estimated_total", pr.RowsTotal, "rows_per_sec", int64(pr.RatePerSec), "eta_seconds", int64(pr.ETASeconds))
		}
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(p.progress) > 0 {
		return fmt.Errorf("postgres: snapshot ended with unfinished tables %v", p.progress)
	}
	final := (&position{Flush: flush}).encode()
	if held == nil {
		held = &segment{}
	} else if n := len(held.recs); n > 0 {
		markLast(&held.recs[n-1])
	}
	held.pos = final
	if err := push(*held); err != nil {
		return err
	}
	s.prog.finish()
	s.log.Info("snapshot finished", "rows", s.prog.rowsDone(), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

var snapTrue, snapLast = []byte(`"snapshot":"true"`), []byte(`"snapshot":"last"`)

// markLast turns the final snapshot record's snapshot "true" into "last".
// The source block follows both images, so the last occurrence is its own.
func markLast(r *connectors.Record) {
	if r.Value == nil { // a tombstone never ends a snapshot, but be safe
		return
	}
	if i := bytes.LastIndex(r.Value, snapTrue); i >= 0 {
		copy(r.Value[i:], snapLast)
	}
}

func (s *Source) snapshotWorker(ctx context.Context, p *runPlan, startAfter map[string][]*string, jobs <-chan *table, out chan<- chunk) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: acquiring a connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("snapshot: beginning: %w", err)
	}
	if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+p.snapName+"'"); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("snapshot: using exported snapshot %s: %w", p.snapName, err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") }()
	for t := range jobs {
		if err := s.snapshotTable(ctx, conn, t, startAfter[t.fullName()], p.snapLSN, out); err != nil {
			return fmt.Errorf("snapshot of %s: %w", t.fullName(), err)
		}
	}
	return nil
}

func (s *Source) snapshotTable(ctx context.Context, conn *pgxpool.Conn, t *table, after []*string, lsn uint64, out chan<- chunk) error {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = pgx.Identifier{c.name}.Sanitize()
	}
	var keyIdx []int
	var keyCols []string
	for _, k := range t.key {
		for i, c := range t.cols {
			if c.name == k {
				keyIdx = append(keyIdx, i)
				keyCols = append(keyCols, cols[i])
			}
		}
	}
	base := "SELECT " + strings.Join(cols, ", ") + " FROM " + t.ident
	meta := eventMeta{snapshot: "true", tsMs: time.Now().UnixMilli(), lsn: int64(lsn), txID: -1}
	send := func(c chunk) error {
		select {
		case out <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		q := base
		var params [][]byte
		if t.key != nil {
			if after != nil {
				ph := make([]string, len(after))
				for i, v := range after {
					ph[i] = fmt.Sprintf("$%d", i+1)
					if v != nil {
						params = append(params, []byte(*v))
					} else {
						params = append(params, nil)
					}
				}
				q += " WHERE (" + strings.Join(keyCols, ", ") + ") > (" + strings.Join(ph, ", ") + ")"
			}
			q += " ORDER BY " + strings.Join(keyCols, ", ") + fmt.Sprintf(" LIMIT %d", s.cfg.ChunkSize)
		}
		rr := conn.Conn().PgConn().ExecParams(ctx, q, params, nil, nil, nil)
		c := chunk{t: t, recs: make([]connectors.Record, 0, min(s.cfg.ChunkSize, 1024))}
		lastKey := make([][]byte, len(keyIdx)) // copied: rr reuses its buffers
		lastNull := make([]bool, len(keyIdx))
		meta.now = time.Now().UnixMilli()
		for rr.NextRow() {
			vals := rr.Values()
			img := make(connectors.Row, len(t.cols))
			for i, v := range vals {
				img[i].Name = t.cols[i].name
				if v != nil {
					img[i].Value = decodeText(t.cols[i].typ, t.cols[i].typmod, v, s.types)
				}
			}
			var err error
			if c.recs, err = s.enc.records(c.recs, t, "r", nil, img, &meta); err != nil {
				rr.Close()
				return err
			}
			c.rows++
			for i, ki := range keyIdx {
				lastKey[i] = append(lastKey[i][:0], vals[ki]...)
				lastNull[i] = vals[ki] == nil
			}
			if t.key == nil && c.rows >= s.cfg.ChunkSize { // keyless: one pass, chunked output
				if err := send(c); err != nil {
					rr.Close()
					return err
				}
				c = chunk{t: t}
			}
		}
		if c.rows > 0 && keyIdx != nil {
			c.after = make([]*string, len(keyIdx))
			for i := range keyIdx {
				if !lastNull[i] {
					v := string(lastKey[i])
					c.after[i] = &v
				}
			}
		}
		if _, err := rr.Close(); err != nil {
			return err
		}
		c.done = t.key == nil || c.rows < s.cfg.ChunkSize
		if c.after == nil {
			c.after = after
		}
		if err := send(c); err != nil {
			return err
		}
		if c.done {
			return nil
		}
		after = c.after
	}
}
