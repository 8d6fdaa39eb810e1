package postgres

import (
	"bytes"
	"context"
	"fmt"
	"sort"
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
	id    string // progress entry: the table, or one of its key ranges
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
		s.splitRanges(ctx, p, t)
	}
	// Jobs copy their starting keys: the loop below rewrites p.progress as
	// chunks complete. Ranges of one table finish it together.
	var jobList []snapJob
	remaining := map[string]int{}
	for _, t := range p.snapshot {
		for id, tp := range p.progress {
			if tableOf(id, tp) == t.fullName() {
				jobList = append(jobList, snapJob{t: t, id: id, lo: tp.Lo, hi: tp.Hi, after: tp.After})
				remaining[t.fullName()]++
			}
		}
	}
	sort.Slice(jobList, func(i, j int) bool { return jobList[i].id < jobList[j].id })
	s.log.Info("snapshot started", "tables", len(p.snapshot), "ranges", len(jobList), "workers", s.cfg.SnapshotWorkers, "snapshot", p.snapName)
	jobs := make(chan snapJob, len(jobList))
	for _, j := range jobList {
		jobs <- j
	}
	close(jobs)
	results := make(chan chunk, s.cfg.SnapshotWorkers)
	errc := make(chan error, s.cfg.SnapshotWorkers)
	var wg sync.WaitGroup
	for i := 0; i < min(s.cfg.SnapshotWorkers, len(jobList)); i++ {
		wg.Add(1)
		go func() { // owned by wg; exits when jobs is drained or ctx is cancelled
			defer wg.Done()
			if err := s.snapshotWorker(ctx, p, jobs, results); err != nil {
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
			delete(p.progress, c.id)
			remaining[name]--
		} else {
			tp := *p.progress[c.id]
			tp.After = c.after
			p.progress[c.id] = &tp
		}
		s.prog.add(name, int64(c.rows), remaining[name] == 0)
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

// snapJob is one table or key range for a worker.
type snapJob struct {
	t      *table
	id     string
	lo, hi *string
	after  []*string
}

// splitRanges splits a large table that starts from scratch into one key
// range per worker, at bounds of pg_stats' histogram of its first key
// column, so workers share it. Without statistics it stays whole.
func (s *Source) splitRanges(ctx context.Context, p *runPlan, t *table) {
	tp, ok := p.progress[t.fullName()]
	n := s.cfg.SnapshotWorkers
	if !ok || n < 2 || t.key == nil || tp.After != nil || tp.Lo != nil || tp.Hi != nil || t.estRows < int64(2*s.cfg.ChunkSize) {
		return
	}
	var bounds []string
	err := s.pool.QueryRow(ctx, `SELECT histogram_bounds::text::text[] FROM pg_stats
		WHERE schemaname = $1 AND tablename = $2 AND attname = $3`, t.schema, t.name, t.key[0]).Scan(&bounds)
	if err != nil || len(bounds) < n+1 {
		return
	}
	delete(p.progress, t.fullName())
	var lo *string
	for i := 0; i < n; i++ {
		var hi *string
		if i < n-1 {
			b := bounds[(i+1)*(len(bounds)-1)/n]
			hi = &b
		}
		p.progress[fmt.Sprintf("%s#%d", t.fullName(), i)] = &tableProgress{Table: t.fullName(), Lo: lo, Hi: hi}
		lo = hi
	}
}

func (s *Source) snapshotWorker(ctx context.Context, p *runPlan, jobs <-chan snapJob, out chan<- chunk) error {
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
	for j := range jobs {
		if err := s.snapshotTable(ctx, conn, j, p.snapLSN, out); err != nil {
			return fmt.Errorf("snapshot of %s: %w", j.id, err)
		}
	}
	return nil
}

func (s *Source) snapshotTable(ctx context.Context, conn *pgxpool.Conn, j snapJob, lsn uint64, out chan<- chunk) error {
	t, after := j.t, j.after
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
		var where []string
		param := func(v *string) string {
			if v == nil {
				params = append(params, nil)
			} else {
				params = append(params, []byte(*v))
			}
			return fmt.Sprintf("$%d", len(params))
		}
		if j.lo != nil {
			where = append(where, keyCols[0]+" >= "+param(j.lo))
		}
		if j.hi != nil {
			where = append(where, keyCols[0]+" < "+param(j.hi))
		}
		if t.key != nil {
			if after != nil {
				ph := make([]string, len(after))
				for i, v := range after {
					ph[i] = param(v)
				}
				where = append(where, "("+strings.Join(keyCols, ", ")+") > ("+strings.Join(ph, ", ")+")")
			}
			if len(where) > 0 {
				q += " WHERE " + strings.Join(where, " AND ")
			}
			q += " ORDER BY " + strings.Join(keyCols, ", ") + fmt.Sprintf(" LIMIT %d", s.cfg.ChunkSize)
		}
		rr := conn.Conn().PgConn().ExecParams(ctx, q, params, nil, nil, nil)
		c := chunk{t: t, id: j.id, recs: make([]connectors.Record, 0, min(s.cfg.ChunkSize, 1024))}
		lastKey := make([][]byte, len(keyIdx)) // copied: rr reuses its buffers
		lastNull := make([]bool, len(keyIdx))
		meta.now = time.Now().UnixMilli()
		for rr.NextRow() {
			vals := rr.Values()
			meta.sizeHint = 0
			for i, v := range vals {
				meta.sizeHint += len(v) + len(t.cols[i].name)
			}
			c.recs = append(c.recs, s.enc.snapshotRecord(t, vals, &meta, s.types))
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
				c = chunk{t: t, id: j.id}
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
