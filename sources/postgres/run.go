package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runPlan is what Open decided the run goroutine does, in order:
// stream a window, snapshot tables, stream.
type runPlan struct {
	// repl holds the exported snapshot open (a CREATE_REPLICATION_SLOT ...
	// EXPORT_SNAPSHOT connection); permanent reports whether its slot is
	// the pipeline's slot (then it streams afterwards) or a temporary one.
	repl      *pgconn.PgConn
	permanent bool
	// exportConn holds the exported snapshot for initial_only (a REPEATABLE
	// READ transaction running pg_export_snapshot()).
	exportConn *pgxpool.Conn

	snapName string
	snapLSN  uint64
	snapshot []*table                  // tables to snapshot
	progress map[string]*tableProgress // their checkpoints (After may resume)

	// window: before the snapshot, stream from here until snapLSN (a
	// snapshot resumed under a new exported snapshot, DESIGN.md).
	window *position
	// from: where streaming starts after the snapshot; nil: no stream.
	from *position
}

func (p *runPlan) close() {
	if p.repl != nil {
		_ = p.repl.Close(context.Background())
		p.repl = nil
	}
	if p.exportConn != nil {
		_, _ = p.exportConn.Exec(context.Background(), "ROLLBACK")
		p.exportConn.Release()
		p.exportConn = nil
	}
}

// plan decides, from the position, the snapshot mode and the slot, what the
// run does, and creates what it needs (slot, exported snapshot).
func (s *Source) plan(ctx context.Context, pos *position) (*runPlan, error) {
	all := func() map[string]*tableProgress {
		m := map[string]*tableProgress{}
		for _, t := range s.tables {
			m[t.fullName()] = &tableProgress{}
		}
		return m
	}
	if s.cfg.Snapshot == SnapshotInitialOnly {
		if pos != nil && len(pos.Pending) == 0 {
			s.log.Info("initial_only snapshot already complete; nothing to do")
			s.prog.finish()
			return &runPlan{}, nil
		}
		prog := all()
		if pos != nil {
			prog = pos.Pending // no stream to be consistent with: resume after the last key
		}
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("acquiring a connection: %w", err)
		}
		p := &runPlan{exportConn: conn, progress: prog}
		var lsn string
		if _, err = conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err == nil {
			err = conn.QueryRow(ctx, "SELECT pg_export_snapshot(), pg_current_wal_lsn()::text").Scan(&p.snapName, &lsn)
		}
		if err != nil {
			p.close()
			return nil, fmt.Errorf("exporting a snapshot: %w", err)
		}
		p.snapLSN = uint64(mustLSN(lsn))
		p.snapshot = s.tablesIn(prog)
		return p, nil
	}

	slot, err := readSlot(ctx, s.pool, s.cfg.Slot)
	if err != nil {
		return nil, err
	}
	snapshotAll := func(reason string) (*runPlan, error) {
		if slot.ok {
			s.log.Warn("dropping the replication slot to snapshot again", "slot", s.cfg.Slot, "reason", reason)
			if _, err := s.pool.Exec(ctx, "SELECT pg_drop_replication_slot($1)", s.cfg.Slot); err != nil {
				return nil, fmt.Errorf("dropping slot %s: %w", s.cfg.Slot, err)
			}
		}
		p := &runPlan{permanent: true, progress: all()}
		if err := s.exportSlot(ctx, p, s.cfg.Slot, false); err != nil {
			return nil, err
		}
		s.log.Info("replication slot created; snapshotting", "slot", s.cfg.Slot, "lsn", pglogrepl.LSN(p.snapLSN).String(), "reason", reason)
		p.snapshot = s.tablesIn(p.progress)
		p.from = &position{Flush: p.snapLSN}
		return p, nil
	}
	switch {
	case pos == nil && s.cfg.Snapshot == SnapshotNever:
		if !slot.ok {
			conn, err := connectReplication(ctx, s.cfg.DSN)
			if err != nil {
				return nil, fmt.Errorf("opening a replication connection: %w", err)
			}
			res, err := pglogrepl.CreateReplicationSlot(ctx, conn, s.cfg.Slot, "pgoutput",
				pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
			_ = conn.Close(ctx)
			if err != nil {
				return nil, fmt.Errorf("creating slot %s: %w", s.cfg.Slot, err)
			}
			slot.confirmed = uint64(mustLSN(res.ConsistentPoint))
			s.log.Info("replication slot created (snapshot: never)", "slot", s.cfg.Slot, "lsn", res.ConsistentPoint)
		}
		s.prog.finish()
		return &runPlan{from: &position{Flush: slot.confirmed}}, nil
	case pos == nil:
		return snapshotAll("no acknowledged position")
	case !slot.ok:
		if s.cfg.Snapshot == SnapshotWhenNeeded {
			return snapshotAll("slot missing")
		}
		return nil, fmt.Errorf("%w: %s (the position needs it; snapshot: when_needed would snapshot again)", ErrSlotMissing, s.cfg.Slot)
	case pos.Flush < slot.confirmed:
		// The slot confirmed past the position: changes in between cannot
		// be read again.
		if s.cfg.Snapshot == SnapshotWhenNeeded {
			return snapshotAll("position behind the slot")
		}
		return nil, fmt.Errorf("%w: position %s is behind slot %s (confirmed %s): changes in between are gone",
			ErrPosition, pglogrepl.LSN(pos.Flush), s.cfg.Slot, pglogrepl.LSN(slot.confirmed))
	case len(pos.Pending) > 0:
		// A snapshot was interrupted and its exported snapshot died with
		// the connection. Re-snapshot the unfinished tables under a new
		// exported snapshot (a temporary slot), after streaming every table
		// up to that snapshot's consistent point (DESIGN.md "Resuming").
		p := &runPlan{progress: map[string]*tableProgress{}}
		for id, tp := range pos.Pending {
			p.progress[tableOf(id, tp)] = &tableProgress{} // whole tables, again
		}
		if err := s.exportSlot(ctx, p, s.cfg.Slot+"_snap", true); err != nil {
			return nil, err
		}
		names := slices.Sorted(maps.Keys(p.progress))
		s.log.Warn("snapshot interrupted and its exported snapshot is gone: streaming up to a new snapshot, then re-snapshotting the unfinished tables",
			"tables", names, "lsn", pglogrepl.LSN(p.snapLSN).String())
		w := *pos
		w.Pending = p.progress
		w.Snap = 0
		p.window = &w
		p.snapshot = s.tablesIn(p.progress)
		p.from = &position{Flush: p.snapLSN}
		return p, nil
	default:
		s.prog.finish()
		return &runPlan{from: pos}, nil
	}
}

// exportSlot creates a slot with an exported snapshot on a new replication
// connection, which the plan keeps open while the snapshot runs.
func (s *Source) exportSlot(ctx context.Context, p *runPlan, name string, temporary bool) error {
	conn, err := connectReplication(ctx, s.cfg.DSN)
	if err != nil {
		return fmt.Errorf("opening a replication connection: %w", err)
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, name, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: temporary, Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("creating slot %s: %w", name, err)
	}
	p.repl, p.permanent = conn, !temporary
	p.snapName, p.snapLSN = res.SnapshotName, uint64(mustLSN(res.ConsistentPoint))
	return nil
}

func (s *Source) tablesIn(prog map[string]*tableProgress) []*table {
	in := map[string]bool{}
	for id, tp := range prog {
		in[tableOf(id, tp)] = true
	}
	var out []*table
	for _, t := range s.tables {
		if in[t.fullName()] {
			out = append(out, t)
		}
	}
	return out
}

// run executes the plan: window, snapshot, stream. It owns p's connections.
func (s *Source) run(ctx context.Context, p *runPlan) error {
	defer p.close()
	if p.window != nil {
		end, err := s.stream(ctx, nil, p.window, p.snapLSN)
		if err != nil {
			return err
		}
		s.log.Info("streamed up to the new snapshot", "lsn", pglogrepl.LSN(end.Flush).String())
	}
	if len(p.snapshot) > 0 || p.snapName != "" {
		base := uint64(0)
		if p.from != nil {
			base = p.from.Flush
		}
		if err := s.snapshot(ctx, p, base); err != nil {
			return err
		}
	}
	if p.exportConn != nil {
		p.close()
	}
	if p.from == nil {
		<-ctx.Done() // initial_only: done; Read blocks until the runtime stops
		return nil
	}
	var conn *pgconn.PgConn
	if p.permanent {
		conn, p.repl = p.repl, nil // the slot's own connection streams now
	} else if p.repl != nil {
		_ = p.repl.Close(ctx) // drops the temporary slot
		p.repl = nil
	}
	_, err := s.stream(ctx, conn, p.from, 0)
	return err
}
